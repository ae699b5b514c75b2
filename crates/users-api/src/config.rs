//! Typed configuration: profile defaults, then `.env`, then the environment. Built once.

use std::fmt;
use std::str::FromStr;

use auth_token::{KeyError, SecretKey, SigningAlgorithm, TokenService, TokenSettings};
use users_domain::{HashCost, PasswordPolicy};

/// Shortest `SECRET_KEY` production accepts, in bytes.
pub const MIN_PRODUCTION_SECRET_BYTES: usize = 32;

/// A configuration that cannot be used: names the variable. Start-up exits with code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self {
            variable,
            reason: reason.into(),
        }
    }
}

/// `APP_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Local work: SQLite file, generated key, fast hashing.
    Development,
    /// The test suite: `DATABASE_TEST_URL`, 3-second tokens, fast hashing.
    Testing,
    /// Real traffic: `SECRET_KEY` required, OWASP hashing.
    Production,
}

impl Profile {
    /// The profile's name as `APP_ENV` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Testing => "testing",
            Self::Production => "production",
        }
    }
}

impl FromStr for Profile {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Self::Development),
            "testing" | "test" => Ok(Self::Testing),
            "production" | "prod" => Ok(Self::Production),
            _ => Err(()),
        }
    }
}

/// Log line format (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// Which browser origins may call the API (`CORS_ALLOWED_ORIGINS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (the seed's default), echoed back.
    Any,
    /// Only these origins.
    List(Vec<String>),
}

/// A PEM key file, read once. `Debug` shows the path only.
#[derive(Clone)]
pub struct KeyFile {
    /// Where it was read from.
    pub path: String,
    /// The PEM bytes.
    pub pem: Vec<u8>,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFile({})", self.path)
    }
}

fn read_key_file(variable: &'static str, path: &str) -> Result<KeyFile, ConfigError> {
    std::fs::read(path)
        .map(|pem| KeyFile {
            path: path.to_owned(),
            pem,
        })
        .map_err(|e| ConfigError::new(variable, format!("cannot read {path:?}: {e}")))
}

/// The effective configuration of one process.
#[derive(Clone)]
pub struct Config {
    /// `APP_ENV`.
    pub profile: Profile,
    /// `DATABASE_URL`, or `DATABASE_TEST_URL` in the testing profile.
    pub database_url: String,
    /// `SECRET_KEY`, or a generated development key.
    pub secret_key: SecretKey,
    /// Whether `secret_key` was generated because none was given.
    pub secret_generated: bool,
    /// Token lifetime, issuer and audience.
    pub token: TokenSettings,
    /// `JWT_ALGORITHM`.
    pub jwt_algorithm: SigningAlgorithm,
    /// `JWT_PRIVATE_KEY_FILE`, read at start-up.
    pub jwt_private_key: Option<KeyFile>,
    /// `JWT_PREVIOUS_KEY_FILES`, read at start-up.
    pub jwt_previous_keys: Vec<KeyFile>,
    /// Argon2id cost for new hashes.
    pub hash_cost: HashCost,
    /// Rules for new passwords.
    pub password_policy: PasswordPolicy,
    /// `HOST`.
    pub host: String,
    /// `PORT`.
    pub port: u16,
    /// `WORKERS`.
    pub workers: usize,
    /// `CORS_ALLOWED_ORIGINS`.
    pub cors: CorsOrigins,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `DB_POOL_SIZE`.
    pub db_pool_size: u32,
    /// `DB_POOL_TIMEOUT_SECONDS`.
    pub db_pool_timeout_secs: u64,
    /// `ACCEPT_LEGACY_TOKENS`: accept tokens without `sid` (issued by the Flask service).
    pub accept_legacy_tokens: bool,
    /// `REFRESH_TOKEN_EXPIRATION_DAYS`: a session ends at this age.
    pub refresh_expiration_days: u32,
    /// `REFRESH_REUSE_GRACE_SECONDS`: how long the immediate predecessor of a refresh token
    /// still yields the same successor.
    pub refresh_reuse_grace_secs: u32,
    /// `REQUEST_TIMEOUT_SECONDS`: the longest a client may take to send its request head,
    /// and, separately, its body.
    pub request_timeout_secs: u64,
    /// Failed-login throttling.
    pub throttle: ThrottleConfig,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Failed-login throttling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// `LOGIN_MAX_FAILURES_PER_ACCOUNT`.
    pub max_per_account: u32,
    /// `LOGIN_MAX_FAILURES_PER_ADDRESS`.
    pub max_per_address: u32,
    /// `LOGIN_FAILURE_WINDOW_SECONDS`.
    pub window_secs: u32,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

fn redact_url(url: &str) -> String {
    // postgres://user:password@host/db -> postgres://user:<redacted>@host/db
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.rsplit_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return redact_query(&format!("{scheme}://{user}:<redacted>@{host}"));
    }
    redact_query(url)
}

/// `...?password=secret&...` -> `...?password=<redacted>&...` (libpq reads it there too).
fn redact_query(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=<redacted>"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

impl Config {
    /// Builds the configuration from the process environment (after `.env` was loaded).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from a variable lookup, so tests need no process globals.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let profile = match get("APP_ENV") {
            None => Profile::Development,
            Some(v) => v.parse().map_err(|()| {
                ConfigError::new(
                    "APP_ENV",
                    format!("{v:?} is not development, testing or production"),
                )
            })?,
        };

        let (db_var, db_default) = match profile {
            Profile::Testing => ("DATABASE_TEST_URL", "users-test.db"),
            _ => ("DATABASE_URL", "users.db"),
        };
        let database_url = get(db_var).unwrap_or_else(|| db_default.to_owned());

        let (secret_key, secret_generated) = match get("SECRET_KEY") {
            Some(s) => {
                if profile == Profile::Production && s.len() < MIN_PRODUCTION_SECRET_BYTES {
                    return Err(ConfigError::new(
                        "SECRET_KEY",
                        format!(
                            "must be at least {MIN_PRODUCTION_SECRET_BYTES} bytes in production"
                        ),
                    ));
                }
                let key = SecretKey::new(s.into_bytes())
                    .map_err(|e| ConfigError::new("SECRET_KEY", e.to_string()))?;
                (key, false)
            }
            None if profile == Profile::Production => {
                return Err(ConfigError::new(
                    "SECRET_KEY",
                    format!(
                        "is required in production (at least {MIN_PRODUCTION_SECRET_BYTES} bytes)"
                    ),
                ));
            }
            None => (generated_secret()?, true),
        };

        let (days, seconds, hash_cost, min_password) = match profile {
            Profile::Development => (30, 0, HashCost::FAST, 1),
            Profile::Testing => (0, 3, HashCost::FAST, 1),
            Profile::Production => (30, 0, HashCost::OWASP, 8),
        };
        let token = TokenSettings {
            expiration_days: parse_in(&get, "TOKEN_EXPIRATION_DAYS", days, 0..=MAX_DAYS)?,
            expiration_seconds: parse_in(
                &get,
                "TOKEN_EXPIRATION_SECONDS",
                seconds,
                0..=MAX_DAYS * 86_400,
            )?,
            issuer: get("JWT_ISSUER"),
            audience: get("JWT_AUDIENCE"),
        };
        let jwt_algorithm = match get("JWT_ALGORITHM") {
            None => SigningAlgorithm::Hs256,
            Some(v) => v.parse().map_err(|_| {
                ConfigError::new(
                    "JWT_ALGORITHM",
                    format!("{v:?} is not HS256, EdDSA, ES256 or RS256"),
                )
            })?,
        };
        let jwt_private_key = get("JWT_PRIVATE_KEY_FILE")
            .map(|p| read_key_file("JWT_PRIVATE_KEY_FILE", p.trim()))
            .transpose()?;
        if jwt_algorithm.is_asymmetric() && jwt_private_key.is_none() {
            return Err(ConfigError::new(
                "JWT_PRIVATE_KEY_FILE",
                format!(
                    "is required with JWT_ALGORITHM={} (make one with `users-api keygen`)",
                    jwt_algorithm.as_str()
                ),
            ));
        }
        let jwt_previous_keys = get("JWT_PREVIOUS_KEY_FILES")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| read_key_file("JWT_PREVIOUS_KEY_FILES", p))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let hash_cost = HashCost {
            memory_kib: parse_or(&get, "ARGON2_MEMORY_KIB", hash_cost.memory_kib)?,
            iterations: parse_or(&get, "ARGON2_ITERATIONS", hash_cost.iterations)?,
            parallelism: parse_or(&get, "ARGON2_PARALLELISM", hash_cost.parallelism)?,
        };
        let min_chars: usize = parse_or(&get, "PASSWORD_MIN_LENGTH", min_password)?;
        if min_chars == 0 || min_chars > users_domain::MAX_PASSWORD_BYTES {
            return Err(ConfigError::new(
                "PASSWORD_MIN_LENGTH",
                "must be between 1 and 1024",
            ));
        }

        let cors = match get("CORS_ALLOWED_ORIGINS") {
            None => CorsOrigins::Any,
            Some(v) if v.trim() == "*" => CorsOrigins::Any,
            Some(v) => CorsOrigins::List(parse_origins(&v)?),
        };
        let log_format = match get("LOG_FORMAT").as_deref().map(str::to_ascii_lowercase) {
            None => LogFormat::Text,
            Some(f) if f == "text" => LogFormat::Text,
            Some(f) if f == "json" => LogFormat::Json,
            Some(f) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("{f:?} is not text or json"),
                ));
            }
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let workers: usize = parse_or(&get, "WORKERS", cores)?;
        if workers == 0 {
            return Err(ConfigError::new("WORKERS", "must be at least 1"));
        }
        let db_pool_size: u32 = parse_or(&get, "DB_POOL_SIZE", 16)?;
        if db_pool_size == 0 {
            return Err(ConfigError::new("DB_POOL_SIZE", "must be at least 1"));
        }

        let config = Self {
            profile,
            database_url,
            secret_key,
            secret_generated,
            token,
            jwt_algorithm,
            jwt_private_key,
            jwt_previous_keys,
            hash_cost,
            password_policy: PasswordPolicy { min_chars },
            host: get("HOST").unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: parse_or(&get, "PORT", 5000)?,
            workers,
            cors,
            log_format,
            db_pool_size,
            db_pool_timeout_secs: parse_in(&get, "DB_POOL_TIMEOUT_SECONDS", 5, 1..=3600)?,
            accept_legacy_tokens: parse_bool_or(&get, "ACCEPT_LEGACY_TOKENS", true)?,
            refresh_expiration_days: parse_in(
                &get,
                "REFRESH_TOKEN_EXPIRATION_DAYS",
                30,
                0..=MAX_DAYS as u32,
            )?,
            refresh_reuse_grace_secs: parse_in(&get, "REFRESH_REUSE_GRACE_SECONDS", 10, 0..=3600)?,
            request_timeout_secs: parse_in(&get, "REQUEST_TIMEOUT_SECONDS", 10, 1..=3600)?,
            throttle: ThrottleConfig {
                max_per_account: parse_in(
                    &get,
                    "LOGIN_MAX_FAILURES_PER_ACCOUNT",
                    10,
                    1..=u32::MAX,
                )?,
                max_per_address: parse_in(
                    &get,
                    "LOGIN_MAX_FAILURES_PER_ADDRESS",
                    100,
                    1..=u32::MAX,
                )?,
                window_secs: parse_in(
                    &get,
                    "LOGIN_FAILURE_WINDOW_SECONDS",
                    900,
                    1..=MAX_DAYS as u32 * 86_400,
                )?,
            },
            trusted_proxies: parse_proxies(get("TRUSTED_PROXIES"))?,
        };
        // Keys that do not work stop start-up here, naming their variable.
        config.token_service()?;
        Ok(config)
    }

    /// Builds the token service this configuration describes.
    pub fn token_service(&self) -> Result<TokenService, ConfigError> {
        let previous: Vec<Vec<u8>> = self
            .jwt_previous_keys
            .iter()
            .map(|k| k.pem.clone())
            .collect();
        TokenService::new(
            self.jwt_algorithm,
            &self.secret_key,
            self.jwt_private_key.as_ref().map(|k| k.pem.as_slice()),
            &previous,
            self.token.clone(),
        )
        .map_err(|e| {
            let variable = match &e {
                KeyError::PreviousKey { .. } => "JWT_PREVIOUS_KEY_FILES",
                KeyError::EmptySecret => "SECRET_KEY",
                _ if self.jwt_algorithm.is_asymmetric() => "JWT_PRIVATE_KEY_FILE",
                _ => "SECRET_KEY",
            };
            ConfigError::new(variable, crate::error::ErrorChain(&e).to_string())
        })
    }

    /// The seed's `DEBUG` flag: on outside production.
    pub fn debug(&self) -> bool {
        self.profile != Profile::Production
    }

    /// The seed's `TESTING` flag.
    pub fn testing(&self) -> bool {
        self.profile == Profile::Testing
    }

    /// The effective configuration as `KEY=value` lines, secrets redacted.
    pub fn render(&self) -> String {
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        let cors = match &self.cors {
            CorsOrigins::Any => "*".to_owned(),
            CorsOrigins::List(l) => l.join(","),
        };
        let secret = if self.secret_generated {
            "<generated for this process>".to_owned()
        } else {
            format!("<redacted, {} bytes>", self.secret_key.len())
        };
        [
            ("APP_ENV", self.profile.as_str().to_owned()),
            ("DATABASE_URL", redact_url(&self.database_url)),
            ("SECRET_KEY", secret),
            (
                "TOKEN_EXPIRATION_DAYS",
                self.token.expiration_days.to_string(),
            ),
            (
                "TOKEN_EXPIRATION_SECONDS",
                self.token.expiration_seconds.to_string(),
            ),
            ("JWT_ALGORITHM", self.jwt_algorithm.as_str().to_owned()),
            (
                "JWT_PRIVATE_KEY_FILE",
                self.jwt_private_key
                    .as_ref()
                    .map(|k| k.path.clone())
                    .unwrap_or_default(),
            ),
            (
                "JWT_PREVIOUS_KEY_FILES",
                self.jwt_previous_keys
                    .iter()
                    .map(|k| k.path.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("JWT_ISSUER", opt(&self.token.issuer)),
            ("JWT_AUDIENCE", opt(&self.token.audience)),
            ("ARGON2_MEMORY_KIB", self.hash_cost.memory_kib.to_string()),
            ("ARGON2_ITERATIONS", self.hash_cost.iterations.to_string()),
            ("ARGON2_PARALLELISM", self.hash_cost.parallelism.to_string()),
            (
                "PASSWORD_MIN_LENGTH",
                self.password_policy.min_chars.to_string(),
            ),
            ("HOST", self.host.clone()),
            ("PORT", self.port.to_string()),
            ("WORKERS", self.workers.to_string()),
            ("CORS_ALLOWED_ORIGINS", cors),
            (
                "LOG_FORMAT",
                match self.log_format {
                    LogFormat::Text => "text".to_owned(),
                    LogFormat::Json => "json".to_owned(),
                },
            ),
            ("DB_POOL_SIZE", self.db_pool_size.to_string()),
            (
                "DB_POOL_TIMEOUT_SECONDS",
                self.db_pool_timeout_secs.to_string(),
            ),
            (
                "ACCEPT_LEGACY_TOKENS",
                self.accept_legacy_tokens.to_string(),
            ),
            (
                "REFRESH_TOKEN_EXPIRATION_DAYS",
                self.refresh_expiration_days.to_string(),
            ),
            (
                "REFRESH_REUSE_GRACE_SECONDS",
                self.refresh_reuse_grace_secs.to_string(),
            ),
            (
                "REQUEST_TIMEOUT_SECONDS",
                self.request_timeout_secs.to_string(),
            ),
            (
                "LOGIN_MAX_FAILURES_PER_ACCOUNT",
                self.throttle.max_per_account.to_string(),
            ),
            (
                "LOGIN_MAX_FAILURES_PER_ADDRESS",
                self.throttle.max_per_address.to_string(),
            ),
            (
                "LOGIN_FAILURE_WINDOW_SECONDS",
                self.throttle.window_secs.to_string(),
            ),
            (
                "TRUSTED_PROXIES",
                self.trusted_proxies
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
    }
}

/// The longest lifetime a token or session may be given, in days (100 years): beyond it,
/// dates overflow.
const MAX_DAYS: u64 = 36_500;

/// [`parse_or`], and the value must lie in `range`.
fn parse_in<T: FromStr + PartialOrd + fmt::Display>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError> {
    let value = parse_or(get, name, default)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            name,
            format!(
                "{value} is not between {} and {}",
                range.start(),
                range.end()
            ),
        ))
    }
}

fn parse_or<T: FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| ConfigError::new(name, format!("{v:?} is not a valid number"))),
    }
}

/// A comma-separated list of origins (`scheme://host[:port]`, no path), each checked here
/// so that a typo stops start-up with the variable's name instead of failing in actix-cors.
fn parse_origins(value: &str) -> Result<Vec<String>, ConfigError> {
    let bad = |o: &str, why: &str| ConfigError::new("CORS_ALLOWED_ORIGINS", format!("{o:?} {why}"));
    let origins: Vec<String> = value
        .split(',')
        .map(|o| o.trim().trim_end_matches('/'))
        .filter(|o| !o.is_empty())
        .map(|o| {
            if o == "*" {
                return Err(bad(o, "must be alone (any origin), not in a list"));
            }
            let uri: actix_web::http::Uri = o
                .parse()
                .map_err(|_| bad(o, "is not an origin like https://app.example.com"))?;
            let plain = matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.authority().is_some()
                && uri.path_and_query().is_none_or(|p| p.as_str() == "/")
                && actix_web::http::header::HeaderValue::from_str(o).is_ok();
            if plain {
                Ok(o.to_owned())
            } else {
                Err(bad(o, "is not an origin like https://app.example.com"))
            }
        })
        .collect::<Result<_, _>>()?;
    if origins.is_empty() {
        return Err(bad(value, "names no origin"));
    }
    Ok(origins)
}

fn parse_proxies(value: Option<String>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    ConfigError::new(
                        "TRUSTED_PROXIES",
                        format!("{p:?} is not an IP address or CIDR network"),
                    )
                })
        })
        .collect()
}

fn parse_bool_or(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) => match v.as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::new(
                name,
                format!("{v:?} is not true or false"),
            )),
        },
    }
}

fn generated_secret() -> Result<SecretKey, ConfigError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ConfigError::new("SECRET_KEY", format!("cannot generate a key: {e}")))?;
    SecretKey::new(bytes.to_vec()).map_err(|e| ConfigError::new("SECRET_KEY", e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_vars(|k| map.get(k).cloned())
    }

    const SECRET: &str = "a-secret-key-that-is-long-enough-for-prod";

    #[test]
    fn development_config() {
        let c = config(&[
            ("APP_ENV", "development"),
            ("SECRET_KEY", SECRET),
            ("DATABASE_URL", "postgres://u:p@h/dev"),
            ("DATABASE_TEST_URL", "postgres://u:p@h/test"),
        ])
        .unwrap();
        assert_eq!(c.profile, Profile::Development);
        assert_eq!(c.secret_key.expose(), SECRET.as_bytes());
        assert!(!c.secret_generated);
        assert!(c.debug());
        assert!(!c.testing());
        assert_eq!(c.database_url, "postgres://u:p@h/dev");
        assert_eq!(c.hash_cost, HashCost::FAST);
        assert_eq!(c.token.expiration_days, 30);
        assert_eq!(c.token.expiration_seconds, 0);
    }

    #[test]
    fn testing_config() {
        let c = config(&[
            ("APP_ENV", "testing"),
            ("SECRET_KEY", SECRET),
            ("DATABASE_URL", "postgres://u:p@h/dev"),
            ("DATABASE_TEST_URL", "postgres://u:p@h/test"),
        ])
        .unwrap();
        assert_eq!(c.profile, Profile::Testing);
        assert_eq!(c.secret_key.expose(), SECRET.as_bytes());
        assert!(c.debug());
        assert!(c.testing());
        assert_eq!(c.database_url, "postgres://u:p@h/test");
        assert_eq!(c.hash_cost, HashCost::FAST);
        assert_eq!(c.token.expiration_days, 0);
        assert_eq!(c.token.expiration_seconds, 3);
    }

    #[test]
    fn production_config() {
        let c = config(&[
            ("APP_ENV", "production"),
            ("SECRET_KEY", SECRET),
            ("DATABASE_URL", "postgres://u:p@h/prod"),
        ])
        .unwrap();
        assert_eq!(c.profile, Profile::Production);
        assert_eq!(c.secret_key.expose(), SECRET.as_bytes());
        assert!(!c.debug());
        assert!(!c.testing());
        assert_eq!(c.database_url, "postgres://u:p@h/prod");
        assert_eq!(c.hash_cost, HashCost::OWASP);
        assert_eq!(c.password_policy.min_chars, 8);
        assert_eq!(c.token.expiration_days, 30);
        assert_eq!(c.token.expiration_seconds, 0);
    }

    #[test]
    fn production_requires_a_long_secret() {
        let e = config(&[("APP_ENV", "production")]).unwrap_err();
        assert_eq!(e.variable, "SECRET_KEY");
        let e = config(&[("APP_ENV", "production"), ("SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(e.variable, "SECRET_KEY");
        assert!(e.to_string().contains("SECRET_KEY"));
    }

    #[test]
    fn development_starts_with_no_environment() {
        let c = config(&[]).unwrap();
        assert_eq!(c.profile, Profile::Development);
        assert!(c.secret_generated);
        assert_eq!(c.secret_key.len(), 32);
        assert_eq!(c.database_url, "users.db");
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 5000));
        assert_eq!(c.cors, CorsOrigins::Any);
    }

    #[test]
    fn environment_overrides_profile_values() {
        let c = config(&[
            ("APP_ENV", "testing"),
            ("TOKEN_EXPIRATION_DAYS", "2"),
            ("TOKEN_EXPIRATION_SECONDS", "5"),
            ("PORT", "8080"),
            (
                "CORS_ALLOWED_ORIGINS",
                "http://a.example, http://b.example/",
            ),
        ])
        .unwrap();
        assert_eq!(c.token.lifetime_secs(), 2 * 86_400 + 5);
        assert_eq!(c.port, 8080);
        assert_eq!(
            c.cors,
            CorsOrigins::List(vec!["http://a.example".into(), "http://b.example".into()])
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (k, v) in [
            ("APP_ENV", "staging"),
            ("PORT", "http"),
            ("WORKERS", "0"),
            ("TOKEN_EXPIRATION_DAYS", "-1"),
            ("PASSWORD_MIN_LENGTH", "0"),
            ("LOG_FORMAT", "xml"),
            ("ACCEPT_LEGACY_TOKENS", "maybe"),
            ("REFRESH_TOKEN_EXPIRATION_DAYS", "x"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, not-an-ip"),
            ("LOGIN_FAILURE_WINDOW_SECONDS", "-5"),
            ("JWT_ALGORITHM", "HS512"),
            ("JWT_PRIVATE_KEY_FILE", "/nonexistent/key.pem"),
            // Out of range: dates would overflow, or the setting would switch a check off.
            ("REFRESH_TOKEN_EXPIRATION_DAYS", "4000000000"),
            ("TOKEN_EXPIRATION_DAYS", "99999999"),
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "0"),
            ("LOGIN_MAX_FAILURES_PER_ADDRESS", "0"),
            ("LOGIN_FAILURE_WINDOW_SECONDS", "0"),
            ("DB_POOL_TIMEOUT_SECONDS", "0"),
            ("REQUEST_TIMEOUT_SECONDS", "0"),
            ("CORS_ALLOWED_ORIGINS", "http://a.example, *"),
            ("CORS_ALLOWED_ORIGINS", "a.example"),
            ("CORS_ALLOWED_ORIGINS", "ftp://a.example"),
            ("CORS_ALLOWED_ORIGINS", "http://a.example/path"),
            ("CORS_ALLOWED_ORIGINS", ","),
        ] {
            let e = config(&[(k, v)]).expect_err(&format!("{k}={v}"));
            assert_eq!(e.variable, k, "{k}={v}");
        }
        // An asymmetric algorithm without its key names the key variable.
        let e = config(&[("JWT_ALGORITHM", "EdDSA")]).unwrap_err();
        assert_eq!(e.variable, "JWT_PRIVATE_KEY_FILE");
    }

    #[test]
    fn render_redacts_secrets() {
        let c = config(&[
            ("SECRET_KEY", SECRET),
            ("DATABASE_URL", "postgres://user:hunter2@db/users"),
        ])
        .unwrap();
        let out = c.render();
        assert_eq!(
            redact_url("postgres://db/users?user=u&Password=swordfish&sslmode=require"),
            "postgres://db/users?user=u&Password=<redacted>&sslmode=require"
        );
        assert!(!out.contains(SECRET));
        assert!(!out.contains("hunter2"));
        assert!(out.contains("DATABASE_URL=postgres://user:<redacted>@db/users"));
        assert!(!format!("{c:?}").contains(SECRET));
    }
}
