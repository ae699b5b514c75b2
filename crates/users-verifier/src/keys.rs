//! Verification keys: the service's JWKS, cached as its `Cache-Control` says and fetched
//! again for an unknown `kid` at most once per cool-down; or the shared HS256 secret.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use auth_token::{JwksVerifier, KeyError, SecretKey, SigningAlgorithm, TokenError, TokenService};
use users_domain::Claims;

use crate::{KeySource, Settings, Shared, VerifyError, since};

/// When the JWKS answer names no `max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// The fewest seconds between two refreshes of a stale JWKS that failed.
const RETRY_STALE: Duration = Duration::from_secs(1);

pub(crate) struct Fetched {
    verifier: JwksVerifier,
    fresh_until: Instant,
}

pub(crate) enum Keys {
    Secret(Box<TokenService>),
    Jwks {
        current: RwLock<Option<Fetched>>,
        /// The last fetch (any cause), for the cool-downs.
        last_fetch: Mutex<Option<Instant>>,
        /// The last fetch caused by an unknown `kid`.
        last_unknown: Mutex<Option<Instant>>,
        fetches: AtomicU64,
    },
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn map(e: TokenError) -> VerifyError {
    match e {
        TokenError::Expired => VerifyError::Expired,
        TokenError::Invalid(_) => VerifyError::Invalid,
    }
}

/// `max-age` of a `Cache-Control` value.
fn max_age(cache_control: Option<&str>) -> Duration {
    cache_control
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|n| n.trim().parse::<u64>().ok())
        .map_or(DEFAULT_MAX_AGE, Duration::from_secs)
}

impl Keys {
    pub(crate) fn new(settings: &Settings) -> Result<Self, KeyError> {
        Ok(match &settings.keys {
            KeySource::Secret(secret) => Self::Secret(Box::new(TokenService::new(
                SigningAlgorithm::Hs256,
                &SecretKey::new(secret.clone())?,
                None,
                &[],
                settings.token_settings(),
            )?)),
            KeySource::Jwks => Self::Jwks {
                current: RwLock::new(None),
                last_fetch: Mutex::new(None),
                last_unknown: Mutex::new(None),
                fetches: AtomicU64::new(0),
            },
        })
    }

    pub(crate) fn fetches(&self) -> u64 {
        match self {
            Self::Secret(_) => 0,
            Self::Jwks { fetches, .. } => fetches.load(Ordering::SeqCst),
        }
    }

    /// Fetches the JWKS when none is held or it is past its `max-age` (a failed fetch of a
    /// stale set is retried at most every second; the stale set keeps verifying meanwhile).
    pub(crate) fn refresh_if_needed(&self, shared: &Shared) {
        let Self::Jwks {
            current,
            last_fetch,
            ..
        } = self
        else {
            return;
        };
        let stale = current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_none_or(|f| Instant::now() >= f.fresh_until);
        if !stale {
            return;
        }
        {
            let mut last = lock(last_fetch);
            if last.is_some_and(|at| since(at) < RETRY_STALE) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.fetch(shared);
    }

    fn fetch(&self, shared: &Shared) {
        let Self::Jwks {
            current, fetches, ..
        } = self
        else {
            return;
        };
        fetches.fetch_add(1, Ordering::SeqCst);
        let url = format!("{}/.well-known/jwks.json", shared.settings.base_url);
        let result = shared
            .agent
            .get(&url)
            .config()
            .timeout_global(Some(shared.settings.http_timeout))
            .build()
            .call()
            .map_err(|e| e.to_string())
            .and_then(|mut res| {
                if res.status() != 200 {
                    return Err(format!("answered {}", res.status()));
                }
                let age = max_age(
                    res.headers()
                        .get("cache-control")
                        .and_then(|v| v.to_str().ok()),
                );
                let body = res.body_mut().read_to_string().map_err(|e| e.to_string())?;
                let verifier =
                    JwksVerifier::from_jwks_json(&body, &shared.settings.token_settings())
                        .map_err(|e| e.to_string())?;
                Ok(Fetched {
                    verifier,
                    fresh_until: Instant::now() + age,
                })
            });
        match result {
            Ok(fetched) => {
                *current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fetched);
            }
            Err(e) => tracing::warn!(error = %e, url = %url, "users-verifier: JWKS fetch failed"),
        }
    }

    fn knows(&self, kid: &str) -> bool {
        let Self::Jwks { current, .. } = self else {
            return true;
        };
        current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(|f| f.verifier.keys().any(|(k, _)| k == kid))
    }

    pub(crate) fn verify(&self, shared: &Shared, token: &str) -> Result<Claims, VerifyError> {
        let (current, last_unknown) = match self {
            Self::Secret(service) => return service.decode_auth_token(token).map_err(map),
            Self::Jwks {
                current,
                last_unknown,
                ..
            } => (current, last_unknown),
        };
        self.refresh_if_needed(shared);
        // A `kid` the set does not hold: a rotation this verifier has not seen yet, or a
        // forgery. Fetch again, at most once per cool-down.
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Invalid)?;
        if let Some(kid) = header.kid.as_deref()
            && !self.knows(kid)
        {
            let due = {
                let mut last = lock(last_unknown);
                let due = last.is_none_or(|at| since(at) >= shared.settings.jwks_cooldown);
                if due {
                    *last = Some(Instant::now());
                }
                due
            };
            if due {
                self.fetch(shared);
            }
        }
        let guard = current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(fetched) = guard.as_ref() else {
            return Err(VerifyError::Unavailable);
        };
        fetched.verifier.decode(token).map_err(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age(Some("public, max-age=300")),
            Duration::from_secs(300)
        );
        assert_eq!(max_age(Some("max-age=5")), Duration::from_secs(5));
        assert_eq!(max_age(Some("no-cache")), DEFAULT_MAX_AGE);
        assert_eq!(max_age(None), DEFAULT_MAX_AGE);
    }
}
