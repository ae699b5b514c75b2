//! Prometheus metrics (`GET /metrics`), with the `prometheus-client` crate: request counts
//! and latency by route and status, login outcomes, tokens issued, refresh reuse, throttled
//! requests, password-hash time, and database pool state.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a request series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// The matched route pattern (`/users/{id}`), never the raw path.
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// Labels of a latency series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub method: String,
    /// The matched route pattern.
    pub route: String,
}

/// One label: what happened.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `success`, `failure`, `throttled`; `access`, `refresh`; `hash`, `verify`.
    pub outcome: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs .. ~3 s
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

fn hash_histogram() -> Histogram {
    // 1 ms .. ~1 s
    Histogram::new(exponential_buckets(0.001, 2.0, 11))
}

/// Every series the service exports.
pub struct Metrics {
    registry: Registry,
    /// `http_requests_total{method,route,status}`.
    pub requests: Family<RequestLabels, Counter>,
    /// `http_request_duration_seconds{method,route}`.
    pub latency: HistogramFamily<RouteLabels>,
    /// `login_attempts_total{outcome}`: success, failure, throttled.
    pub logins: Family<Outcome, Counter>,
    /// `tokens_issued_total{outcome}`: access, refresh.
    pub tokens_issued: Family<Outcome, Counter>,
    /// `refresh_token_reuse_detected_total`.
    pub refresh_reuse: Counter,
    /// `throttled_requests_total`: requests answered 429.
    pub throttled: Counter,
    /// `password_hash_duration_seconds{outcome}`: hash, verify.
    pub hash_time: HistogramFamily<Outcome>,
    /// `mail_sent_total`: mails the SMTP server accepted (or, without `SMTP_URL`, logged).
    pub mail_sent: Counter,
    /// `mail_failed_total`: mails given up (a 5xx, or `MAIL_MAX_ATTEMPTS` reached).
    pub mail_failed: Counter,
    /// `mail_retried_total`: attempts that failed for now and will be retried.
    pub mail_retried: Counter,
    /// `mail_outbox_backlog`: mails neither sent nor given up, as the delivery task last
    /// counted them.
    pub mail_backlog: Gauge,
    /// `auth_cache_lookups_total{outcome}`: hit, miss, bypass.
    pub auth_cache_lookups: Family<Outcome, Counter>,
    /// `auth_cache_entries`: records in the auth cache.
    pub auth_cache_entries: Gauge,
    /// `auth_listener_up`: 1 while the auth cache's listener is subscribed.
    pub auth_listener_up: Gauge,
    /// `auth_listener_connects_total`: times the listener (re)connected.
    pub auth_listener_connects: Counter,
    pool_connections: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
}

/// The method as a metric label: one of the standard methods, else `OTHER`.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("OTHER")
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every series.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        let latency: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            latency.clone(),
        );
        let logins = Family::<Outcome, Counter>::default();
        registry.register(
            "login_attempts",
            "Login attempts by outcome (success, failure, throttled)",
            logins.clone(),
        );
        let tokens_issued = Family::<Outcome, Counter>::default();
        registry.register(
            "tokens_issued",
            "Tokens issued by kind (access, refresh)",
            tokens_issued.clone(),
        );
        let refresh_reuse = Counter::default();
        registry.register(
            "refresh_token_reuse_detected",
            "Reuse of rotated-out refresh tokens (the session was revoked)",
            refresh_reuse.clone(),
        );
        let throttled = Counter::default();
        registry.register(
            "throttled_requests",
            "Requests refused with 429",
            throttled.clone(),
        );
        let hash_time: HistogramFamily<Outcome> =
            Family::new_with_constructor(hash_histogram as fn() -> Histogram);
        registry.register(
            "password_hash_duration_seconds",
            "Time spent hashing or verifying passwords",
            hash_time.clone(),
        );
        let mail_sent = Counter::default();
        registry.register(
            "mail_sent",
            "Mails accepted by the SMTP server (or logged, without SMTP_URL)",
            mail_sent.clone(),
        );
        let mail_failed = Counter::default();
        registry.register(
            "mail_failed",
            "Mails given up: a permanent SMTP error or too many attempts",
            mail_failed.clone(),
        );
        let mail_retried = Counter::default();
        registry.register(
            "mail_retried",
            "Delivery attempts that failed for now and will be retried",
            mail_retried.clone(),
        );
        let mail_backlog = Gauge::default();
        registry.register(
            "mail_outbox_backlog",
            "Mails in the outbox neither sent nor given up",
            mail_backlog.clone(),
        );
        let auth_cache_lookups = Family::<Outcome, Counter>::default();
        // Every outcome is exported from the start, at 0, so a scraper sees the series.
        for outcome in ["hit", "miss", "bypass"] {
            drop(auth_cache_lookups.get_or_create(&Outcome { outcome }));
        }
        registry.register(
            "auth_cache_lookups",
            "Auth cache lookups by outcome (hit, miss, bypass: the listener is not vouching)",
            auth_cache_lookups.clone(),
        );
        let auth_cache_entries = Gauge::default();
        registry.register(
            "auth_cache_entries",
            "Records in the auth cache",
            auth_cache_entries.clone(),
        );
        let auth_listener_up = Gauge::default();
        registry.register(
            "auth_listener_up",
            "1 while the auth cache's change listener is subscribed and alive",
            auth_listener_up.clone(),
        );
        let auth_listener_connects = Counter::default();
        registry.register(
            "auth_listener_connects",
            "Times the change listener (re)connected",
            auth_listener_connects.clone(),
        );
        let pool_connections = Gauge::default();
        registry.register(
            "db_pool_connections",
            "Open database connections",
            pool_connections.clone(),
        );
        let pool_idle = Gauge::default();
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections",
            pool_idle.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "db_pool_max_connections",
            "Most database connections the pool opens",
            pool_max.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            logins,
            tokens_issued,
            refresh_reuse,
            throttled,
            hash_time,
            mail_sent,
            mail_failed,
            mail_retried,
            mail_backlog,
            auth_cache_lookups,
            auth_cache_entries,
            auth_listener_up,
            auth_listener_connects,
            pool_connections,
            pool_idle,
            pool_max,
        }
    }

    /// Counts one finished request. Labels come from closed sets only, so that no client can
    /// mint series: the method is a standard one or `OTHER` ([`method_label`]), the route a
    /// pattern of ours or `<unknown>`, the status one the service answered.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts a login outcome.
    pub fn login(&self, outcome: &'static str) {
        self.logins.get_or_create(&Outcome { outcome }).inc();
    }

    /// Counts issued tokens.
    pub fn issued(&self, kind: &'static str) {
        self.tokens_issued
            .get_or_create(&Outcome { outcome: kind })
            .inc();
    }

    /// Counts an auth cache lookup.
    pub fn auth_cache(&self, outcome: &'static str) {
        self.auth_cache_lookups
            .get_or_create(&Outcome { outcome })
            .inc();
    }

    /// Records the time of one hash or verification.
    pub fn hash_seconds(&self, op: &'static str, seconds: f64) {
        self.hash_time
            .get_or_create(&Outcome { outcome: op })
            .observe(seconds);
    }

    /// The text exposition, with the pool gauges read now.
    pub fn render(&self, pool: &users_db::DbPool) -> String {
        let state = pool.state();
        self.pool_connections.set(i64::from(state.connections));
        self.pool_idle.set(i64::from(state.idle_connections));
        self.pool_max.set(i64::from(pool.max_size()));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}
