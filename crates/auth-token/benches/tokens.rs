//! Token encode / decode against the raw HMAC-SHA256 floor.
//!
//! `encode` and `decode_validate` go through `TokenService` and so through whichever
//! jsonwebtoken crypto backend the crate is built with (`rust_crypto` by default,
//! `--no-default-features --features aws_lc_rs` for AWS-LC). The `raw_hmac_sha256*` groups
//! always use RustCrypto `hmac` + `sha2`, whatever the backend: they are the floor, HMAC over
//! exactly the signing input (`header.payload`) of the token that `decode_validate` decodes.
//! The `step_*` groups time pieces of a decode one at a time (see BENCHMARKS.md).
//! jsonwebtoken is the workspace's patched copy (`patches/jsonwebtoken`): a decoding key keeps
//! its keyed HMAC state and the header it last verified, and the claims are parsed once.
//!
//! `BENCH_CLOCK=thread-cpu` measures the benchmark thread's CPU time instead of wall time,
//! for a shared machine: time spent preempted by other processes is then not counted.

#![expect(
    clippy::expect_used,
    reason = "a benchmark whose setup fails has nothing to measure: it stops at once, naming the step"
)]

use std::hint::black_box;
use std::time::Duration;

use auth_token::{Claims, SecretKey, TokenService, TokenSettings};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::Criterion;
use criterion::measurement::{Measurement, ValueFormatter};
use hmac::{Hmac, KeyInit as _, Mac};
use sha2::Sha256;
use users_domain::UserId;

type HmacSha256 = Hmac<Sha256>;

const SECRET: &[u8] = b"bench-secret-0123456789abcdef0123456789";

fn service() -> TokenService {
    let key = SecretKey::new(SECRET).expect("non-empty secret");
    TokenService::hs256(
        &key,
        TokenSettings {
            expiration_days: 30,
            expiration_seconds: 0,
            issuer: None,
            audience: None,
        },
    )
    .expect("HS256 service")
}

fn backend() -> &'static str {
    if cfg!(feature = "aws_lc_rs") {
        "aws_lc_rs"
    } else {
        "rust_crypto"
    }
}

/// The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), in nanoseconds.
struct ThreadCpu;

impl Measurement for ThreadCpu {
    type Intermediate = cpu_time::ThreadTime;
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        cpu_time::ThreadTime::now()
    }
    fn end(&self, start: Self::Intermediate) -> Self::Value {
        start.elapsed()
    }
    fn add(&self, a: &Self::Value, b: &Self::Value) -> Self::Value {
        *a + *b
    }
    fn zero(&self) -> Self::Value {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Self::Value) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanos
    }
}

/// Values in nanoseconds, shown as "ns (cpu)".
struct Nanos;

impl ValueFormatter for Nanos {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "ns (cpu)"
    }
    fn scale_throughputs(
        &self,
        _typical: f64,
        _throughput: &criterion::Throughput,
        _values: &mut [f64],
    ) -> &'static str {
        "ns (cpu)"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn tokens<M: Measurement + 'static>(c: &mut Criterion<M>) {
    let service = service();
    let user = UserId::new(12_345);
    let token = service.encode_auth_token(user).expect("encode");
    let (signing_input, signature) = token.rsplit_once('.').expect("three segments");
    let (_, payload) = signing_input.split_once('.').expect("three segments");
    let payload_json = URL_SAFE_NO_PAD.decode(payload).expect("payload base64");
    eprintln!(
        "backend {}; token {} bytes, signing input {} bytes",
        backend(),
        token.len(),
        signing_input.len()
    );
    assert_eq!(
        service.decode_auth_token(&token).map(|c| c.sub),
        Ok(user),
        "the bench token must be valid"
    );

    c.bench_function("encode", |b| {
        b.iter(|| service.encode_auth_token(black_box(user)).expect("encode"));
    });

    c.bench_function("decode_validate", |b| {
        b.iter(|| service.decode_auth_token(black_box(&token)).expect("valid"));
    });

    // The floor: key the MAC, hash the signing input, finalize.
    c.bench_function("raw_hmac_sha256", |b| {
        b.iter(|| {
            let mut mac = HmacSha256::new_from_slice(black_box(SECRET)).expect("any key");
            mac.update(black_box(signing_input.as_bytes()));
            mac.finalize().into_bytes()
        });
    });

    // The same with the keyed state computed once and cloned (ipad/opad blocks cached).
    let keyed = HmacSha256::new_from_slice(SECRET).expect("any key");
    c.bench_function("raw_hmac_sha256_prekeyed", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(signing_input.as_bytes()));
            mac.finalize().into_bytes()
        });
    });

    // What a minimal verifier does: base64-decode the signature, then verify_slice.
    c.bench_function("raw_hmac_sha256_verify", |b| {
        b.iter(|| {
            let tag = URL_SAFE_NO_PAD
                .decode(black_box(signature))
                .expect("signature base64");
            let mut mac = HmacSha256::new_from_slice(black_box(SECRET)).expect("any key");
            mac.update(black_box(signing_input.as_bytes()));
            mac.verify_slice(&tag).expect("valid signature");
        });
    });

    // Sub-steps of a decode, one at a time.
    c.bench_function("step_base64_decode_payload", |b| {
        b.iter(|| URL_SAFE_NO_PAD.decode(black_box(payload)).expect("payload"));
    });

    c.bench_function("step_decode_header", |b| {
        b.iter(|| jsonwebtoken::decode_header(black_box(&token)).expect("header"));
    });

    c.bench_function("step_json_claims", |b| {
        b.iter(|| serde_json::from_slice::<Claims>(black_box(&payload_json)).expect("claims"));
    });
}

fn main() {
    // What `criterion_group!` + `criterion_main!` expand to, minus an undocumented `pub fn`.
    fn run<M: Measurement + 'static>(c: Criterion<M>) {
        let mut c = c
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();
        tokens(&mut c);
        c.final_summary();
    }
    match std::env::var("BENCH_CLOCK").as_deref() {
        Ok("thread-cpu") => run(Criterion::default().with_measurement(ThreadCpu)),
        Ok("wall") | Err(_) => run(Criterion::default()),
        Ok(other) => panic!("BENCH_CLOCK={other}: expected wall or thread-cpu"),
    }
}
