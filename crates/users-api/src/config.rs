//! Typed configuration: profile defaults, then `.env`, then the environment. Built once.
//!
//! Every setting is declared once, in [`SETTINGS`]: its variable, what it accepts (type and
//! range), its default in each profile, whether it is secret, and one line of help. Parsing
//! with range checks ([`Config::from_vars`]), `users-api config` ([`Config::render`]) and the
//! README's configuration table ([`readme_table`]) all read that declaration. Adding a
//! setting is one entry there plus one field of [`Config`] (and its neutral value in
//! `Config::base`).

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

fn read_key_file(path: &str) -> Result<KeyFile, String> {
    std::fs::read(path)
        .map(|pem| KeyFile {
            path: path.to_owned(),
            pem,
        })
        .map_err(|e| format!("cannot read {path:?}: {e}"))
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
    /// `REVOCATION_FEED_TOKEN`: the bearer token of `GET /auth/revocations`; unset, the
    /// route answers 404.
    pub revocation_feed_token: Option<String>,
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
    /// Mail: delivery, links, tokens and email verification.
    pub mail: MailConfig,
    /// `AUTH_CACHE_ENTRIES`: records the auth cache holds at most (0: no cache).
    pub auth_cache_entries: usize,
}

/// `EMAIL_VERIFICATION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailVerification {
    /// No mail at registration (Part A unchanged).
    Off,
    /// Registration and `POST /users` send a verification mail; nothing else changes.
    Optional,
    /// As optional, and an unverified account cannot log in (registration opens no session).
    Required,
}

/// Mail settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// `SMTP_URL`: where mail goes; `None`: not sent (logged outside production).
    pub smtp_url: Option<String>,
    /// `MAIL_FROM`.
    pub from: String,
    /// `APP_URL`, without a trailing `/`: the front end that mail links point to.
    pub app_url: String,
    /// `MAIL_MAX_ATTEMPTS`: delivery attempts before a mail is given up.
    pub max_attempts: u32,
    /// `MAIL_MAX_PER_HOUR`: mails per account and purpose in any hour.
    pub max_per_hour: u32,
    /// `EMAIL_TOKEN_TTL_SECONDS`: lifetime of verification and change links.
    pub email_token_ttl_secs: u32,
    /// `PASSWORD_RESET_TTL_SECONDS`: lifetime of reset links.
    pub reset_ttl_secs: u32,
    /// `EMAIL_VERIFICATION`.
    pub verification: EmailVerification,
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

// ---------------------------------------------------------------------------------------
// The declaration.

/// What a setting accepts. Numbers and booleans are parsed and range-checked here, for every
/// setting alike; text is handed to the setting's `apply`, which checks its form.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A whole number in `min..=max`.
    Int {
        /// Smallest accepted.
        min: u64,
        /// Largest accepted.
        max: u64,
    },
    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
    Bool,
    /// One of these words, case-insensitive (`apply` gets it lower-cased).
    Choice(&'static [&'static str]),
    /// Text of the form described (for the README).
    Text(&'static str),
}

/// A parsed value, as `apply` receives it.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// Neither set nor defaulted.
    Unset,
    /// A [`Kind::Int`], within its range.
    Int(u64),
    /// A [`Kind::Bool`].
    Bool(bool),
    /// A [`Kind::Choice`] (lower-cased) or [`Kind::Text`] (trimmed).
    Text(&'a str),
}

impl Value<'_> {
    /// The number, converted to the field's type (the declared range fits it).
    fn int<T: TryFrom<u64>>(self) -> Result<T, String> {
        match self {
            Self::Int(n) => T::try_from(n).map_err(|_| format!("{n} is too large")),
            _ => Err("a number is required".to_owned()),
        }
    }

    fn bool(self) -> Result<bool, String> {
        match self {
            Self::Bool(b) => Ok(b),
            _ => Err("true or false is required".to_owned()),
        }
    }

    fn opt(self) -> Result<Option<String>, String> {
        Ok(self.text())
    }

    fn text(self) -> Option<String> {
        match self {
            Self::Text(t) => Some(t.to_owned()),
            _ => None,
        }
    }
}

/// A default for each profile, as the variable would spell it; `""` is "unset".
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    /// `development`.
    pub development: &'static str,
    /// `testing`.
    pub testing: &'static str,
    /// `production`.
    pub production: &'static str,
}

impl Defaults {
    const fn all(value: &'static str) -> Self {
        Self::per(value, value, value)
    }

    const fn per(
        development: &'static str,
        testing: &'static str,
        production: &'static str,
    ) -> Self {
        Self {
            development,
            testing,
            production,
        }
    }

    /// The default in `profile`.
    pub fn get(self, profile: Profile) -> &'static str {
        match profile {
            Profile::Development => self.development,
            Profile::Testing => self.testing,
            Profile::Production => self.production,
        }
    }
}

/// One setting: its variable and everything parsing, rendering and the README need.
pub struct Setting {
    /// The environment variable.
    pub name: &'static str,
    /// What it accepts.
    pub kind: Kind,
    /// Its default per profile, parsed like a value when the variable is unset.
    pub default: Defaults,
    /// How the README describes a default that is computed (when `default` is `""`).
    pub default_doc: Option<&'static str>,
    /// Rendered redacted by `users-api config`.
    pub secret: bool,
    /// Set but empty is an error (otherwise it means unset).
    pub empty_is_error: bool,
    /// One line of help.
    pub help: &'static str,
    /// Stores the parsed value into the configuration (checks text forms).
    pub apply: fn(&mut Config, Value<'_>) -> Result<(), String>,
    /// The effective value as `users-api config` prints it (redacted if `secret`).
    pub show: fn(&Config) -> String,
}

impl Setting {
    /// A setting with the common defaults (not secret, empty means unset, no default doc).
    const fn new(
        name: &'static str,
        kind: Kind,
        default: Defaults,
        help: &'static str,
        apply: fn(&mut Config, Value<'_>) -> Result<(), String>,
        show: fn(&Config) -> String,
    ) -> Self {
        Self {
            name,
            kind,
            default,
            default_doc: None,
            secret: false,
            empty_is_error: false,
            help,
            apply,
            show,
        }
    }

    const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    const fn empty_is_error(mut self) -> Self {
        self.empty_is_error = true;
        self
    }

    const fn default_doc(mut self, doc: &'static str) -> Self {
        self.default_doc = Some(doc);
        self
    }

    /// Parses `raw` (the variable, or the profile's default) and checks it against the kind.
    fn parse<'a>(&self, raw: Option<&'a str>) -> Result<Value<'a>, String> {
        let Some(raw) = raw.map(str::trim) else {
            return Ok(Value::Unset);
        };
        match self.kind {
            Kind::Int { min, max } => {
                let n: u64 = raw
                    .parse()
                    .map_err(|_| format!("{raw:?} is not a whole number ({min} to {max})"))?;
                if (min..=max).contains(&n) {
                    Ok(Value::Int(n))
                } else {
                    Err(format!("{n} is not between {min} and {max}"))
                }
            }
            Kind::Bool => match raw.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(Value::Bool(true)),
                "0" | "false" | "no" | "off" => Ok(Value::Bool(false)),
                _ => Err(format!("{raw:?} is not true or false")),
            },
            Kind::Choice(words) => words
                .iter()
                .find(|w| w.eq_ignore_ascii_case(raw))
                .map(|w| Value::Text(w))
                .ok_or_else(|| format!("{raw:?} is not one of {}", words.join(", "))),
            Kind::Text(_) => Ok(Value::Text(raw)),
        }
    }

    /// The README's "accepts" cell.
    fn accepts(&self) -> String {
        match self.kind {
            Kind::Int { min, max } => format!("{min} to {max}"),
            Kind::Bool => "`true` or `false`".to_owned(),
            Kind::Choice(words) => words
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(", "),
            Kind::Text(form) => form.to_owned(),
        }
    }

    /// The README's "default" cell: one value, or development / testing / production.
    fn default_cell(&self) -> String {
        if let Some(doc) = self.default_doc {
            return doc.to_owned();
        }
        let cell = |v: &str| {
            if v.is_empty() {
                "unset".to_owned()
            } else {
                format!("`{v}`")
            }
        };
        let d = self.default;
        if d.development == d.testing && d.testing == d.production {
            cell(d.development)
        } else {
            format!(
                "{} / {} / {}",
                cell(d.development),
                cell(d.testing),
                cell(d.production)
            )
        }
    }
}

/// The longest lifetime a token or session may be given, in days (100 years): beyond it,
/// dates overflow.
const MAX_DAYS: u64 = 36_500;
const U32: u64 = u32::MAX as u64;
/// An `apply` that stores the value, converted by `Value::$how`, in `config.$field`.
macro_rules! store {
    ($($field:ident).+, $how:ident) => {
        |c, v| {
            c.$($field).+ = v.$how()?;
            Ok(())
        }
    };
}

const fn int(min: u64, max: u64) -> Kind {
    Kind::Int { min, max }
}

/// `DB_POOL_SIZE` when unset: 4 connections per core, at least 4.
fn default_pool_size(cores: usize) -> u32 {
    u32::try_from(cores.saturating_mul(4)).map_or(1000, |n| n.clamp(4, 1000))
}

/// Shortest `REVOCATION_FEED_TOKEN`.
pub const MIN_FEED_TOKEN_BYTES: usize = 32;

/// Every setting, in the order `users-api config` prints them.
pub static SETTINGS: &[Setting] = &[
    Setting::new(
        "APP_ENV",
        Kind::Text("`development`, `testing` or `production`"),
        Defaults::all("development"),
        "the profile: the defaults of the other settings (see Profiles)",
        |c, v| {
            c.profile = parse_profile(&v.text().unwrap_or_default())?;
            Ok(())
        },
        |c| c.profile.as_str().to_owned(),
    ),
    Setting::new(
        "DATABASE_URL",
        Kind::Text("`postgres://…` / `postgresql://…`, or a SQLite file path (`:memory:` too)"),
        Defaults::all("users.db"),
        "the database (all profiles but `testing`); a SQLite file is created by `serve` and `migrate`",
        |c, v| {
            if c.profile != Profile::Testing {
                c.database_url = check_database_url(&v.text().unwrap_or_default())?;
            }
            Ok(())
        },
        |c| match c.profile {
            Profile::Testing => String::new(),
            _ => redact_url(&c.database_url),
        },
    )
    .secret()
    .empty_is_error(),
    Setting::new(
        "DATABASE_TEST_URL",
        Kind::Text("as `DATABASE_URL`"),
        Defaults::all("users-test.db"),
        "the database of the `testing` profile",
        |c, v| {
            if c.profile == Profile::Testing {
                c.database_url = check_database_url(&v.text().unwrap_or_default())?;
            }
            Ok(())
        },
        |c| match c.profile {
            Profile::Testing => redact_url(&c.database_url),
            _ => String::new(),
        },
    )
    .secret()
    .empty_is_error(),
    Setting::new(
        "SECRET_KEY",
        Kind::Text("text; at least 32 bytes in production"),
        Defaults::all(""),
        "HS256 signing key, and the key refresh tokens are derived from",
        |c, v| match v.text() {
            None if c.profile == Profile::Production => Err(format!(
                "is required in production (at least {MIN_PRODUCTION_SECRET_BYTES} bytes)"
            )),
            None => Ok(()),
            Some(s) => {
                if c.profile == Profile::Production && s.len() < MIN_PRODUCTION_SECRET_BYTES {
                    return Err(format!(
                        "must be at least {MIN_PRODUCTION_SECRET_BYTES} bytes in production"
                    ));
                }
                c.secret_key = SecretKey::new(s.into_bytes()).map_err(|e| e.to_string())?;
                c.secret_generated = false;
                Ok(())
            }
        },
        |c| {
            if c.secret_generated {
                "<generated for this process>".to_owned()
            } else {
                format!("<redacted, {} bytes>", c.secret_key.len())
            }
        },
    )
    .secret()
    .default_doc("generated (development, testing); **required in production**"),
    Setting::new(
        "TOKEN_EXPIRATION_DAYS",
        int(0, MAX_DAYS),
        Defaults::per("30", "0", "30"),
        "access token lifetime, days",
        store!(token.expiration_days, int),
        |c| c.token.expiration_days.to_string(),
    ),
    Setting::new(
        "TOKEN_EXPIRATION_SECONDS",
        int(0, MAX_DAYS * 86_400),
        Defaults::per("0", "3", "0"),
        "added to the days",
        store!(token.expiration_seconds, int),
        |c| c.token.expiration_seconds.to_string(),
    ),
    Setting::new(
        "JWT_ALGORITHM",
        Kind::Text("`HS256`, `EdDSA`, `ES256` or `RS256`"),
        Defaults::all("HS256"),
        "how tokens are signed (`HS256` with `SECRET_KEY`, the others with `JWT_PRIVATE_KEY_FILE`)",
        |c, v| {
            let v = v.text().unwrap_or_default();
            c.jwt_algorithm = v
                .parse()
                .map_err(|_| format!("{v:?} is not HS256, EdDSA, ES256 or RS256"))?;
            Ok(())
        },
        |c| c.jwt_algorithm.as_str().to_owned(),
    ),
    Setting::new(
        "JWT_PRIVATE_KEY_FILE",
        Kind::Text("a PEM file (`users-api keygen`)"),
        Defaults::all(""),
        "the private key; required unless `HS256`",
        |c, v| {
            c.jwt_private_key = v.text().map(|p| read_key_file(&p)).transpose()?;
            Ok(())
        },
        |c| {
            c.jwt_private_key
                .as_ref()
                .map(|k| k.path.clone())
                .unwrap_or_default()
        },
    ),
    Setting::new(
        "JWT_PREVIOUS_KEY_FILES",
        Kind::Text("comma-separated PEM files"),
        Defaults::all(""),
        "keys whose tokens still verify (rotation)",
        |c, v| {
            c.jwt_previous_keys = v
                .text()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(read_key_file)
                .collect::<Result<_, _>>()?;
            Ok(())
        },
        |c| {
            c.jwt_previous_keys
                .iter()
                .map(|k| k.path.as_str())
                .collect::<Vec<_>>()
                .join(",")
        },
    ),
    Setting::new(
        "JWT_ISSUER",
        Kind::Text("text"),
        Defaults::all(""),
        "written as `iss`, then required on decode",
        store!(token.issuer, opt),
        |c| c.token.issuer.clone().unwrap_or_default(),
    ),
    Setting::new(
        "JWT_AUDIENCE",
        Kind::Text("text"),
        Defaults::all(""),
        "written as `aud`, then required on decode",
        store!(token.audience, opt),
        |c| c.token.audience.clone().unwrap_or_default(),
    ),
    Setting::new(
        "ARGON2_MEMORY_KIB",
        int(8, MAX_ARGON2_MEMORY_KIB as u64),
        Defaults::per("1024", "1024", "19456"),
        "argon2id memory of new hashes, KiB (production: OWASP); at least 8 per lane",
        store!(hash_cost.memory_kib, int),
        |c| c.hash_cost.memory_kib.to_string(),
    ),
    Setting::new(
        "ARGON2_ITERATIONS",
        int(1, MAX_ARGON2_ITERATIONS as u64),
        Defaults::per("1", "1", "2"),
        "argon2id passes of new hashes",
        store!(hash_cost.iterations, int),
        |c| c.hash_cost.iterations.to_string(),
    ),
    Setting::new(
        "ARGON2_PARALLELISM",
        int(1, MAX_ARGON2_PARALLELISM as u64),
        Defaults::all("1"),
        "argon2id lanes of new hashes",
        store!(hash_cost.parallelism, int),
        |c| c.hash_cost.parallelism.to_string(),
    ),
    Setting::new(
        "PASSWORD_MIN_LENGTH",
        int(1, users_domain::MAX_PASSWORD_BYTES as u64),
        Defaults::per("1", "1", "8"),
        "characters of a new password; the maximum is 1024 bytes, never truncated",
        store!(password_policy.min_chars, int),
        |c| c.password_policy.min_chars.to_string(),
    ),
    Setting::new(
        "HOST",
        Kind::Text("an IP address or a host name"),
        Defaults::all("127.0.0.1"),
        "listen address (every address a name resolves to)",
        |c, v| {
            c.host = parse_host(&v.text().unwrap_or_default())?;
            Ok(())
        },
        |c| c.host.clone(),
    ),
    Setting::new(
        "PORT",
        int(0, 65_535),
        Defaults::all("5000"),
        "listen port (0: any free port)",
        store!(port, int),
        |c| c.port.to_string(),
    ),
    Setting::new(
        "WORKERS",
        int(1, 1024),
        Defaults::all(""),
        "HTTP worker threads",
        |c, v| {
            c.workers = match v {
                Value::Unset => std::thread::available_parallelism().map_or(1, usize::from),
                v => v.int()?,
            };
            Ok(())
        },
        |c| c.workers.to_string(),
    )
    .default_doc("number of cores"),
    Setting::new(
        "CORS_ALLOWED_ORIGINS",
        Kind::Text("`*`, or comma-separated origins like `https://app.example.com`"),
        Defaults::all("*"),
        "browser origins allowed; `*`: any origin, echoed, no credentials",
        |c, v| {
            c.cors = match v.text().unwrap_or_default().as_str() {
                "*" => CorsOrigins::Any,
                list => CorsOrigins::List(parse_origins(list)?),
            };
            Ok(())
        },
        |c| match &c.cors {
            CorsOrigins::Any => "*".to_owned(),
            CorsOrigins::List(l) => l.join(","),
        },
    ),
    Setting::new(
        "LOG_FORMAT",
        Kind::Choice(&["text", "json"]),
        Defaults::all("text"),
        "log lines as text or JSON; one line per request with a request id (`X-Request-Id`)",
        |c, v| {
            c.log_format = match v.text().as_deref() {
                Some("json") => LogFormat::Json,
                _ => LogFormat::Text,
            };
            Ok(())
        },
        |c| match c.log_format {
            LogFormat::Text => "text".to_owned(),
            LogFormat::Json => "json".to_owned(),
        },
    ),
    Setting::new(
        "DB_POOL_SIZE",
        int(1, 1000),
        Defaults::all(""),
        "database connections at most",
        |c, v| {
            c.db_pool_size = match v {
                // More connections than the cores can run only queue inside the database
                // server: on 2 cores, 16 connections gave a read route a p99 of 169 ms at a
                // 1.3 ms median, 8 gave 6 ms (BENCHMARKS.md, "The tail").
                Value::Unset => default_pool_size(
                    std::thread::available_parallelism().map_or(1, usize::from),
                ),
                v => v.int()?,
            };
            Ok(())
        },
        |c| c.db_pool_size.to_string(),
    )
    .default_doc("4 per core, at least 4"),
    Setting::new(
        "DB_POOL_TIMEOUT_SECONDS",
        int(1, 3600),
        Defaults::all("5"),
        "longest wait for a connection; then 503",
        store!(db_pool_timeout_secs, int),
        |c| c.db_pool_timeout_secs.to_string(),
    ),
    Setting::new(
        "ACCEPT_LEGACY_TOKENS",
        Kind::Bool,
        Defaults::all("true"),
        "accept tokens without `sid` (issued by the Flask service)",
        store!(accept_legacy_tokens, bool),
        |c| c.accept_legacy_tokens.to_string(),
    ),
    Setting::new(
        "REFRESH_TOKEN_EXPIRATION_DAYS",
        int(0, MAX_DAYS),
        Defaults::all("30"),
        "a session's lifetime, days",
        store!(refresh_expiration_days, int),
        |c| c.refresh_expiration_days.to_string(),
    ),
    Setting::new(
        "REVOCATION_FEED_TOKEN",
        Kind::Text("text of at least 32 bytes"),
        Defaults::all(""),
        "bearer token of `GET /auth/revocations` (the revocation feed); unset: the route is 404",
        |c, v| {
            c.revocation_feed_token = match v.text() {
                Some(t) if t.len() < MIN_FEED_TOKEN_BYTES => {
                    return Err(format!("must be at least {MIN_FEED_TOKEN_BYTES} bytes"));
                }
                t => t,
            };
            Ok(())
        },
        |c| match &c.revocation_feed_token {
            Some(t) => format!("<redacted, {} bytes>", t.len()),
            None => String::new(),
        },
    )
    .secret(),
    Setting::new(
        "REFRESH_REUSE_GRACE_SECONDS",
        int(0, 3600),
        Defaults::all("10"),
        "grace window for the immediate predecessor of a refresh token",
        store!(refresh_reuse_grace_secs, int),
        |c| c.refresh_reuse_grace_secs.to_string(),
    ),
    Setting::new(
        "REQUEST_TIMEOUT_SECONDS",
        int(1, 3600),
        Defaults::all("10"),
        "request head and body timeouts",
        store!(request_timeout_secs, int),
        |c| c.request_timeout_secs.to_string(),
    ),
    Setting::new(
        "LOGIN_MAX_FAILURES_PER_ACCOUNT",
        int(1, U32),
        Defaults::all("10"),
        "failed logins of one account within the window before 429",
        store!(throttle.max_per_account, int),
        |c| c.throttle.max_per_account.to_string(),
    ),
    Setting::new(
        "LOGIN_MAX_FAILURES_PER_ADDRESS",
        int(1, U32),
        Defaults::all("100"),
        "failed logins from one client address within the window before 429",
        store!(throttle.max_per_address, int),
        |c| c.throttle.max_per_address.to_string(),
    ),
    Setting::new(
        "LOGIN_FAILURE_WINDOW_SECONDS",
        int(1, MAX_DAYS * 86_400),
        Defaults::all("900"),
        "throttling window (sliding)",
        store!(throttle.window_secs, int),
        |c| c.throttle.window_secs.to_string(),
    ),
    Setting::new(
        "AUTH_CACHE_ENTRIES",
        int(0, 10_000_000),
        Defaults::all("10000"),
        "user and session records of recent tokens kept in memory, and as many verified tokens (together about 1 KiB per entry; 0: none); served only while the instance hears every change from the database",
        store!(auth_cache_entries, int),
        |c| c.auth_cache_entries.to_string(),
    ),
    Setting::new(
        "TRUSTED_PROXIES",
        Kind::Text("comma-separated IP addresses or CIDR networks"),
        Defaults::all(""),
        "peers whose `X-Forwarded-For` is believed",
        |c, v| {
            c.trusted_proxies = parse_proxies(&v.text().unwrap_or_default())?;
            Ok(())
        },
        |c| {
            c.trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        },
    ),
    Setting::new(
        "SMTP_URL",
        Kind::Text(
            "`smtp://[user:pass@]host[:port]` (plain), `…?tls=required` (STARTTLS), `smtps://…` (implicit TLS)",
        ),
        Defaults::all(""),
        "where mail goes; unset: mail is written to the log (development, testing) or the routes that send mail answer 503 (production)",
        |c, v| {
            c.mail.smtp_url = match v.text() {
                Some(url) => Some(crate::mail::check_smtp_url(&url)?),
                None => None,
            };
            Ok(())
        },
        |c| c.mail.smtp_url.as_deref().map(redact_url).unwrap_or_default(),
    )
    .secret(),
    Setting::new(
        "MAIL_FROM",
        Kind::Text("a mailbox, `Name <address>` or `address`"),
        Defaults::all("users-service <no-reply@localhost>"),
        "the `From` of every mail",
        |c, v| {
            c.mail.from = crate::mail::check_mailbox(&v.text().unwrap_or_default())?;
            Ok(())
        },
        |c| c.mail.from.clone(),
    ),
    Setting::new(
        "APP_URL",
        Kind::Text("an `http://` or `https://` URL"),
        Defaults::all("http://127.0.0.1:5000"),
        "the front end that mail links point to (`/verify-email`, `/reset-password`; the service serves both pages)",
        |c, v| {
            c.mail.app_url = parse_app_url(&v.text().unwrap_or_default())?;
            Ok(())
        },
        |c| c.mail.app_url.clone(),
    ),
    Setting::new(
        "EMAIL_VERIFICATION",
        Kind::Choice(&["off", "optional", "required"]),
        Defaults::all("off"),
        "`optional`: registration sends a verification mail; `required`: also, unverified accounts cannot log in",
        |c, v| {
            c.mail.verification = match v.text().as_deref() {
                Some("optional") => EmailVerification::Optional,
                Some("required") => EmailVerification::Required,
                _ => EmailVerification::Off,
            };
            Ok(())
        },
        |c| {
            match c.mail.verification {
                EmailVerification::Off => "off",
                EmailVerification::Optional => "optional",
                EmailVerification::Required => "required",
            }
            .to_owned()
        },
    ),
    Setting::new(
        "MAIL_MAX_ATTEMPTS",
        int(1, 1000),
        Defaults::all("10"),
        "delivery attempts before a mail is given up (retries back off from 2 s to 60 s)",
        store!(mail.max_attempts, int),
        |c| c.mail.max_attempts.to_string(),
    ),
    Setting::new(
        "MAIL_MAX_PER_HOUR",
        int(1, 1000),
        Defaults::all("5"),
        "mails per account and purpose in any hour; past it, requests get their usual answer and no mail",
        store!(mail.max_per_hour, int),
        |c| c.mail.max_per_hour.to_string(),
    ),
    Setting::new(
        "EMAIL_TOKEN_TTL_SECONDS",
        int(60, U32),
        Defaults::all("86400"),
        "lifetime of verification and address-change links",
        store!(mail.email_token_ttl_secs, int),
        |c| c.mail.email_token_ttl_secs.to_string(),
    ),
    Setting::new(
        "PASSWORD_RESET_TTL_SECONDS",
        int(60, U32),
        Defaults::all("3600"),
        "lifetime of password reset links",
        store!(mail.reset_ttl_secs, int),
        |c| c.mail.reset_ttl_secs.to_string(),
    ),
];

/// The README's configuration table, rendered from [`SETTINGS`] (a test keeps README.md
/// equal to it).
pub fn readme_table() -> String {
    let mut out = String::from(
        "| variable | default (development / testing / production) | accepts | meaning |\n\
         |---|---|---|---|\n",
    );
    for s in SETTINGS {
        let secret = if s.secret {
            " (secret: redacted by `users-api config`)"
        } else {
            ""
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {}{secret} |\n",
            s.name,
            s.default_cell(),
            s.accepts(),
            s.help
        ));
    }
    out
}

impl Config {
    /// Builds the configuration from the process environment (after `.env` was loaded).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from a variable lookup, so tests need no process globals.
    /// Every setting of [`SETTINGS`] is parsed and range-checked (the variable, else the
    /// profile's default); then the checks that involve several settings run.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let lookup = |s: &Setting| -> Option<String> {
            match var(s.name) {
                Some(v) if v.trim().is_empty() && !s.empty_is_error => None,
                other => other,
            }
        };
        // The profile first: the other settings' defaults depend on it.
        let app_env = &SETTINGS[0];
        let profile = match lookup(app_env) {
            None => Profile::Development,
            Some(v) => parse_profile(&v).map_err(|e| ConfigError::new(app_env.name, e))?,
        };
        let mut config = Self::base(profile)?;
        for s in SETTINGS {
            let given = lookup(s);
            let default = s.default.get(profile);
            let raw = given
                .as_deref()
                .or((!default.is_empty()).then_some(default));
            let value = s.parse(raw).map_err(|e| ConfigError::new(s.name, e))?;
            (s.apply)(&mut config, value).map_err(|e| ConfigError::new(s.name, e))?;
        }
        config.check()?;
        Ok(config)
    }

    /// A configuration whose every field is then set by its [`SETTINGS`] entry.
    fn base(profile: Profile) -> Result<Self, ConfigError> {
        Ok(Self {
            profile,
            database_url: String::new(),
            secret_key: generated_secret()?,
            secret_generated: true,
            token: TokenSettings {
                expiration_days: 0,
                expiration_seconds: 0,
                issuer: None,
                audience: None,
            },
            jwt_algorithm: SigningAlgorithm::Hs256,
            jwt_private_key: None,
            jwt_previous_keys: Vec::new(),
            hash_cost: HashCost::FAST,
            password_policy: PasswordPolicy::default(),
            host: String::new(),
            port: 0,
            workers: 1,
            cors: CorsOrigins::Any,
            log_format: LogFormat::Text,
            db_pool_size: 1,
            db_pool_timeout_secs: 1,
            accept_legacy_tokens: true,
            refresh_expiration_days: 0,
            revocation_feed_token: None,
            refresh_reuse_grace_secs: 0,
            request_timeout_secs: 1,
            throttle: ThrottleConfig {
                max_per_account: 1,
                max_per_address: 1,
                window_secs: 1,
            },
            trusted_proxies: Vec::new(),
            mail: MailConfig {
                smtp_url: None,
                from: String::new(),
                app_url: String::new(),
                max_attempts: 1,
                max_per_hour: 1,
                email_token_ttl_secs: 1,
                reset_ttl_secs: 1,
                verification: EmailVerification::Off,
            },
            auth_cache_entries: 0,
        })
    }

    /// The checks that involve more than one setting.
    fn check(&self) -> Result<(), ConfigError> {
        if self.jwt_algorithm.is_asymmetric() && self.jwt_private_key.is_none() {
            return Err(ConfigError::new(
                "JWT_PRIVATE_KEY_FILE",
                format!(
                    "is required with JWT_ALGORITHM={} (make one with `users-api keygen`)",
                    self.jwt_algorithm.as_str()
                ),
            ));
        }
        check_hash_cost(self.hash_cost)?;
        if self.profile == Profile::Production
            && self.mail.smtp_url.is_none()
            && self.mail.verification != EmailVerification::Off
        {
            return Err(ConfigError::new(
                "EMAIL_VERIFICATION",
                "needs SMTP_URL in production (mail is not sent without it)",
            ));
        }
        // Keys that do not work stop start-up here, naming their variable.
        self.token_service()?;
        Ok(())
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

    /// The effective configuration as `KEY=value` lines, one per setting, secrets redacted.
    pub fn render(&self) -> String {
        SETTINGS
            .iter()
            .map(|s| format!("{}={}\n", s.name, (s.show)(self)))
            .collect()
    }
}

/// `APP_URL`: an absolute `http(s)://` URL; kept without a trailing `/`.
fn parse_app_url(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
    if rest.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    }
    Ok(url.trim_end_matches('/').to_owned())
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

fn parse_profile(value: &str) -> Result<Profile, String> {
    value
        .parse()
        .map_err(|()| format!("{value:?} is not development, testing or production"))
}

/// The most memory one hash may take (`ARGON2_MEMORY_KIB`): 1 GiB, fifty times the OWASP
/// cost. Beyond it one hash per core can exhaust a machine; at `u32::MAX` the allocation
/// aborts the process.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1024 * 1024;
/// The most passes (`ARGON2_ITERATIONS`): beyond it a login takes minutes.
pub const MAX_ARGON2_ITERATIONS: u32 = 100;
/// The most lanes (`ARGON2_PARALLELISM`).
pub const MAX_ARGON2_PARALLELISM: u32 = 64;

/// The argon2id cost must be one argon2 accepts (its own `Params::new`: at least 8 KiB of
/// memory per lane), so that a bad value stops start-up instead of the first hash. The
/// ranges of each number are checked by their [`SETTINGS`] entries.
fn check_hash_cost(cost: HashCost) -> Result<(), ConfigError> {
    argon2::Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map(drop)
        .map_err(|e| {
            let variable = match e {
                argon2::Error::TimeTooSmall => "ARGON2_ITERATIONS",
                argon2::Error::ThreadsTooFew | argon2::Error::ThreadsTooMany => {
                    "ARGON2_PARALLELISM"
                }
                _ => "ARGON2_MEMORY_KIB",
            };
            ConfigError::new(
                variable,
                format!(
                    "{e} (memory {} KiB, iterations {}, parallelism {}; argon2 needs at \
                     least 8 KiB per lane)",
                    cost.memory_kib, cost.iterations, cost.parallelism
                ),
            )
        })
}

/// The SQLite file a database URL names, if it names a file (not PostgreSQL, not a
/// database in memory): what `DbUrl::parse` opens, with a `file:` URI's query removed.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let parsed = users_db::DbUrl::parse(url);
    let users_db::DbUrl::Sqlite(path) = parsed else {
        return None;
    };
    if parsed.is_sqlite_memory() {
        return None;
    }
    let path = match path.strip_prefix("file:") {
        None => path,
        Some(uri) => {
            let uri = uri.split(['?', '#']).next().unwrap_or_default();
            // file:///abs/path and file://localhost/abs/path name /abs/path.
            match uri.strip_prefix("//") {
                Some(rest) => &rest[rest.find('/').unwrap_or(rest.len())..],
                None => uri,
            }
        }
    };
    (!path.is_empty()).then(|| std::path::PathBuf::from(path))
}

/// A database URL this binary can open: a PostgreSQL URL, or a SQLite file whose directory
/// exists. Any other `scheme://` is an error here rather than a SQLite file of that name.
fn check_database_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err(
            "is set but empty (unset it for the default, or give a postgres:// URL \
                    or a SQLite file path)"
                .to_owned(),
        );
    }
    if let Some((scheme, _)) = url.split_once("://")
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !matches!(scheme, "postgres" | "postgresql" | "sqlite")
    {
        return Err(format!(
            "unknown scheme {scheme}:// (postgres://, postgresql://, sqlite:// or a SQLite \
             file path)"
        ));
    }
    if let Some(file) = sqlite_file(url) {
        if file.is_dir() {
            return Err(format!(
                "{} is a directory, not a SQLite file",
                file.display()
            ));
        }
        if let Some(dir) = file.parent()
            && !dir.as_os_str().is_empty()
            && !dir.is_dir()
        {
            return Err(format!(
                "the directory of the SQLite file, {}, does not exist",
                dir.display()
            ));
        }
    }
    Ok(url.to_owned())
}

/// `HOST`: an IP address or a host name (RFC 1123 labels); whether a name resolves is
/// checked when the service binds.
fn parse_host(host: &str) -> Result<String, String> {
    let name_ok = host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if name_ok || host.parse::<std::net::IpAddr>().is_ok() {
        Ok(host.to_owned())
    } else {
        Err(format!("{host:?} is not an IP address or a host name"))
    }
}

/// A comma-separated list of origins (`scheme://host[:port]`, no path), each checked here
/// so that a typo stops start-up with the variable's name instead of failing in actix-cors.
fn parse_origins(value: &str) -> Result<Vec<String>, String> {
    let bad = |o: &str, why: &str| format!("{o:?} {why}");
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

fn parse_proxies(value: &str) -> Result<Vec<ipnet::IpNet>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("{p:?} is not an IP address or CIDR network"))
        })
        .collect()
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
    fn the_default_pool_follows_the_cores() {
        assert_eq!(default_pool_size(1), 4);
        assert_eq!(default_pool_size(2), 8);
        assert_eq!(default_pool_size(16), 64);
        assert_eq!(default_pool_size(usize::MAX), 1000);
    }

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
            ("ARGON2_MEMORY_KIB", "4294967295"),
            ("ARGON2_MEMORY_KIB", "7"),
            ("ARGON2_ITERATIONS", "0"),
            ("ARGON2_PARALLELISM", "0"),
            ("DATABASE_URL", ""),
            ("DATABASE_URL", "mysql://x/y"),
            ("DATABASE_URL", "/nonexistent-dir/x.db"),
            ("DATABASE_URL", "sqlite:///nonexistent-dir/x.db"),
            ("HOST", "not a host"),
        ] {
            let e = config(&[(k, v)]).expect_err(&format!("{k}={v}"));
            assert_eq!(e.variable, k, "{k}={v}");
        }
        // An asymmetric algorithm without its key names the key variable.
        let e = config(&[("JWT_ALGORITHM", "EdDSA")]).unwrap_err();
        assert_eq!(e.variable, "JWT_PRIVATE_KEY_FILE");
    }

    const TABLE_BEGIN: &str = "<!-- settings-table:begin (generated from SETTINGS in crates/users-api/src/config.rs) -->\n";
    const TABLE_END: &str = "<!-- settings-table:end -->";

    /// The README's configuration table is the one [`readme_table`] renders from the
    /// declaration. `UPDATE_README=1 cargo test -p users-api --lib readme` rewrites it.
    #[test]
    fn readme_table_is_rendered_from_the_declaration() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let start = readme.find(TABLE_BEGIN).expect("README: begin marker") + TABLE_BEGIN.len();
        let end = readme.find(TABLE_END).expect("README: end marker");
        let want = readme_table();
        if std::env::var_os("UPDATE_README").is_some() {
            let updated = format!("{}{want}{}", &readme[..start], &readme[end..]);
            std::fs::write(path, updated).unwrap();
            return;
        }
        assert!(
            readme[start..end] == want,
            "README.md's configuration table differs from SETTINGS; run \
             `UPDATE_README=1 cargo test -p users-api --lib readme` and commit.\n\
             README:\n{}\ndeclared:\n{want}",
            &readme[start..end]
        );
    }

    #[test]
    fn every_setting_is_declared_once_and_rendered() {
        assert_eq!(
            SETTINGS[0].name, "APP_ENV",
            "from_vars reads the profile first"
        );
        let mut names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a setting is declared twice");
        let out = config(&[]).unwrap().render();
        for s in SETTINGS {
            assert_eq!(
                out.lines()
                    .filter(|l| l.starts_with(&format!("{}=", s.name)))
                    .count(),
                1,
                "{}",
                s.name
            );
        }
        // Each profile's defaults parse (production needs its secret).
        for profile in ["development", "testing", "production"] {
            config(&[("APP_ENV", profile), ("SECRET_KEY", SECRET)]).unwrap();
        }
    }

    #[test]
    fn sqlite_file_names_the_file_a_url_opens() {
        for (url, file) in [
            ("users.db", Some("users.db")),
            ("sqlite://data/u.db", Some("data/u.db")),
            ("file:/var/u.db?mode=rwc", Some("/var/u.db")),
            ("file:///var/u.db", Some("/var/u.db")),
            (":memory:", None),
            ("file:x?mode=memory", None),
            ("postgres://h/db", None),
        ] {
            assert_eq!(
                sqlite_file(url).as_deref(),
                file.map(std::path::Path::new),
                "{url}"
            );
        }
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
        let c = config(&[
            ("APP_ENV", "testing"),
            ("DATABASE_TEST_URL", "postgres://user:hunter3@db/test"),
        ])
        .unwrap();
        assert!(!c.render().contains("hunter3"));
        let feed = "feed-token-that-is-long-enough-0123456789";
        let c = config(&[("APP_ENV", "testing"), ("REVOCATION_FEED_TOKEN", feed)]).unwrap();
        assert!(!c.render().contains(feed));
        assert!(
            c.render()
                .contains("REVOCATION_FEED_TOKEN=<redacted, 41 bytes>")
        );
        let secrets: Vec<&str> = SETTINGS
            .iter()
            .filter(|s| s.secret)
            .map(|s| s.name)
            .collect();
        assert_eq!(
            secrets,
            [
                "DATABASE_URL",
                "DATABASE_TEST_URL",
                "SECRET_KEY",
                "REVOCATION_FEED_TOKEN",
                "SMTP_URL"
            ]
        );
        // The SMTP password is redacted, the rest of the URL shown.
        let c = config(&[
            ("APP_ENV", "testing"),
            (
                "SMTP_URL",
                "smtp://apikey:mail-pass@smtp.example.com:587?tls=required",
            ),
        ])
        .unwrap();
        let out = c.render();
        assert!(!out.contains("mail-pass"), "{out}");
        assert!(
            out.contains("SMTP_URL=smtp://apikey:<redacted>@smtp.example.com:587?tls=required"),
            "{out}"
        );
    }

    #[test]
    fn mail_settings_are_checked() {
        let c = config(&[("APP_ENV", "testing")]).unwrap();
        assert_eq!(c.mail.smtp_url, None);
        assert_eq!(c.mail.from, "users-service <no-reply@localhost>");
        assert_eq!(c.mail.app_url, "http://127.0.0.1:5000");
        assert_eq!(c.mail.verification, EmailVerification::Off);
        assert_eq!((c.mail.max_attempts, c.mail.max_per_hour), (10, 5));
        assert_eq!(
            (c.mail.email_token_ttl_secs, c.mail.reset_ttl_secs),
            (86_400, 3600)
        );
        let c = config(&[
            ("APP_ENV", "testing"),
            ("APP_URL", "https://app.example.com/"),
        ])
        .unwrap();
        assert_eq!(c.mail.app_url, "https://app.example.com");
        for (var, value) in [
            ("SMTP_URL", "http://mail.example.com"),
            ("SMTP_URL", "smtp://"),
            ("MAIL_FROM", "not a mailbox"),
            ("APP_URL", "ftp://example.com"),
            ("APP_URL", "https://"),
            ("EMAIL_VERIFICATION", "sometimes"),
            ("MAIL_MAX_ATTEMPTS", "0"),
        ] {
            let e = config(&[("APP_ENV", "testing"), (var, value)]).unwrap_err();
            assert_eq!(e.variable, var, "{value}");
        }
        // Production cannot verify addresses without a way to send mail.
        let secret = "0123456789abcdef0123456789abcdef";
        let e = config(&[
            ("APP_ENV", "production"),
            ("SECRET_KEY", secret),
            ("EMAIL_VERIFICATION", "required"),
        ])
        .unwrap_err();
        assert_eq!(e.variable, "EMAIL_VERIFICATION");
        let c = config(&[
            ("APP_ENV", "production"),
            ("SECRET_KEY", secret),
            ("EMAIL_VERIFICATION", "required"),
            ("SMTP_URL", "smtps://u:p@smtp.example.com"),
        ])
        .unwrap();
        assert_eq!(c.mail.verification, EmailVerification::Required);
    }
}
