//! Offline verification throughput: `Verifier::verify` of a session token, HS256 (the shared
//! secret) and EdDSA (the JWKS, served once by a one-shot HTTP server on loopback), with the
//! revocation check's lookups (an empty feed). Compare with `GET /auth/status` in
//! BENCHMARKS.md: the call a resource server makes without this crate.

#![expect(
    clippy::expect_used,
    reason = "a benchmark whose setup fails has nothing to measure"
)]

use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;

use auth_token::{SecretKey, SigningAlgorithm, TokenService, TokenSettings};
use criterion::Criterion;
use users_domain::UserId;
use users_verifier::{Settings, Verifier};

const SECRET: &[u8] = b"bench-secret-0123456789abcdef0123456789";

fn settings() -> TokenSettings {
    TokenSettings {
        expiration_days: 30,
        expiration_seconds: 0,
        issuer: None,
        audience: None,
    }
}

/// Serves `body` as JSON to every request on a loopback port, on a thread of its own.
fn serve_json(body: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("port").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: public, max-age=300\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let key = SecretKey::new(SECRET).expect("secret");

    let hs = TokenService::hs256(&key, settings()).expect("HS256");
    let token = hs
        .encode_session_token(UserId::new(7), "0123456789abcdef0123456789abcdef")
        .expect("token");
    let verifier =
        Verifier::start(Settings::new("http://127.0.0.1:9").secret(SECRET)).expect("verifier");
    verifier.verify(&token).expect("verifies");
    c.bench_function("verify_hs256", |b| {
        b.iter(|| verifier.verify(black_box(&token)))
    });

    let pem = auth_token::generate_private_key_pem(SigningAlgorithm::EdDsa).expect("key");
    let ed = TokenService::new(
        SigningAlgorithm::EdDsa,
        &key,
        Some(pem.as_bytes()),
        &[],
        settings(),
    )
    .expect("EdDSA");
    let token = ed
        .encode_session_token(UserId::new(7), "0123456789abcdef0123456789abcdef")
        .expect("token");
    let port = serve_json(ed.jwks_json().to_owned());
    let verifier =
        Verifier::start(Settings::new(format!("http://127.0.0.1:{port}"))).expect("verifier");
    verifier.verify(&token).expect("verifies");
    c.bench_function("verify_eddsa_jwks", |b| {
        b.iter(|| verifier.verify(black_box(&token)))
    });
    c.final_summary();
}
