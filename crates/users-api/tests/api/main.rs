//! Black-box tests of the HTTP API, in-process, on a fresh database per test and backend
//! (SQLite always; PostgreSQL when `DATABASE_TEST_URL` names a server).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions panic on a failed set-up"
)]

mod account;
#[path = "../common/mod.rs"]
mod common;
mod helpers;
mod import;
mod mail;
mod maintenance;
mod metrics_keys;
mod mfa;

mod admin;
mod cache;

mod openapi;
mod passwords;
mod protections;
mod revocations;
mod robustness;
mod seed_auth;
mod seed_user_model;
mod seed_users;
mod sessions;
mod smtp_sink;
mod throttle;
mod unseeded;
