//! argon2id at the production (OWASP) cost: one verification alone, and one verification
//! per core at once. The second divided by the first is how well hashing scales across the
//! cores of this machine, which bounds login throughput (see BENCHMARKS.md).

#![expect(
    clippy::expect_used,
    reason = "a benchmark whose setup fails has nothing to measure: it stops at once, naming the step"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use users_domain::{HashCost, Password, PasswordHasher};

fn hashing(c: &mut Criterion) {
    let hasher = PasswordHasher::new(HashCost::OWASP).expect("OWASP parameters");
    let password = Password::for_login("bench-password").expect("a password");
    let hash = hasher.hash(&password).expect("hash");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);

    let mut group = c.benchmark_group("argon2id_owasp");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("verify_one", |b| {
        b.iter(|| assert!(hasher.verify(black_box(&password), black_box(&hash))));
    });
    // One verification per core, each on its own thread; the time is for the whole batch,
    // so a perfect machine would show the same time as `verify_one`.
    group.bench_function(format!("verify_{cores}_at_once"), |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for _ in 0..cores {
                    s.spawn(|| assert!(hasher.verify(black_box(&password), black_box(&hash))));
                }
            });
        });
    });
    group.finish();
}

fn main() {
    // What `criterion_group!` + `criterion_main!` expand to, minus an undocumented `pub fn`.
    let mut c = Criterion::default().configure_from_args();
    hashing(&mut c);
    c.final_summary();
}
