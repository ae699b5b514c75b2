#![doc = include_str!("../README.md")]

pub mod app;
pub mod auth_cache;
pub mod bodies;
pub mod cli;
pub mod config;
pub mod error;
pub mod extract;
pub mod import;
pub mod mail;
pub mod maintenance;
pub mod metrics;
pub mod opaque;
pub mod openapi;
pub mod routes;
pub mod sessions;
pub mod state;
pub mod throttle;

pub use app::build_app;
pub use config::{Config, ConfigError, Profile};
pub use error::ApiError;
pub use state::AppState;
