//! The auth cache: the user and session record of recent tokens, kept in memory so that a
//! protected request needs no database round trip, and never served stale.
//!
//! **The guarantee.** A record is served from memory only while this instance's listener
//! (`users_db::listen`, a connection of its own) is subscribed and has proved alive within
//! [`LEASE`]: every change to a user or a session committed by anyone (another instance,
//! plain SQL) reaches it as a notification and drops the affected records. When the
//! listener is lost (or not yet connected), the cache is bypassed: every request reads the
//! database. When it connects again it forgets everything before it vouches again, since
//! it may have missed notifications meanwhile. A record read from the database is kept only
//! if no change was heard between the read and the keeping (a generation counter), so a
//! read racing a change cannot resurrect the old record. This instance's own changes drop
//! their records at once ([`AuthCache::forget_user`]), before the request that made them is
//! answered. So a change committed at `t` is refused everywhere by `t` plus the listener's
//! delay (a poll every [`POLL`]), or, when the listener dies silently, at most [`LEASE`]
//! after its last proof of life.
//!
//! Memory is bounded: at most `AUTH_CACHE_ENTRIES` records; past it a user's records are
//! evicted to make room. `/metrics`: `auth_cache_lookups_total{outcome}` (hit, miss,
//! bypass), `auth_cache_entries`, `auth_listener_up`, `auth_listener_connects_total`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use users_db::listen::{Change, Listener};
use users_db::sessions::AuthRecord;

use crate::metrics::Metrics;

/// How long one proof of life (a heartbeat round trip) lets the cache serve.
pub const LEASE: Duration = Duration::from_millis(500);
/// How often the listener looks for notifications (a non-blocking read).
pub const POLL: Duration = Duration::from_millis(5);
/// How often the listener proves its connection alive.
pub const HEARTBEAT: Duration = Duration::from_millis(100);
/// The longest a record stays without being read again from the database.
const MAX_AGE: Duration = Duration::from_secs(300);

struct Entry {
    record: AuthRecord,
    stored_at: Instant,
}

#[derive(Default)]
struct Entries {
    /// Per user: their records by session id (`None`: a token without `sid`).
    by_user: HashMap<i32, HashMap<Option<String>, Entry>>,
    /// Which user a cached session belongs to.
    by_sid: HashMap<String, i32>,
    len: usize,
}

impl Entries {
    fn forget_user(&mut self, id: i32) {
        if let Some(records) = self.by_user.remove(&id) {
            self.len -= records.len();
            for sid in records.into_keys().flatten() {
                self.by_sid.remove(&sid);
            }
        }
    }

    fn forget_session(&mut self, sid: &str) {
        if let Some(id) = self.by_sid.remove(sid)
            && let Some(records) = self.by_user.get_mut(&id)
        {
            if records.remove(&Some(sid.to_owned())).is_some() {
                self.len -= 1;
            }
            if records.is_empty() {
                self.by_user.remove(&id);
            }
        }
    }
}

/// What [`AuthCache::lookup`] found.
#[derive(Debug)]
pub enum Lookup {
    /// The record, from memory.
    Hit(AuthRecord),
    /// Not in memory: read it, then [`AuthCache::store`] it with this ticket.
    Miss(Ticket),
    /// The cache may not serve now (its listener is not vouching for it): read the database.
    Bypass,
}

/// A miss, remembering the generation it happened at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// The cache of one process. See the module documentation for its guarantee.
pub struct AuthCache {
    entries: Mutex<Entries>,
    capacity: usize,
    /// Moves on every change heard (and every forgetting), so a read that raced one is not
    /// kept.
    generation: AtomicU64,
    /// Milliseconds since `epoch` until which the listener vouches for the cache.
    serving_until: AtomicU64,
    epoch: Instant,
    metrics: Arc<Metrics>,
    /// Woken on every change heard (the revocation feed's long polls wait on it).
    changed: tokio::sync::Notify,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl AuthCache {
    /// An empty cache of at most `capacity` records (0: never serves), not yet vouched for.
    pub fn new(capacity: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            entries: Mutex::default(),
            capacity,
            generation: AtomicU64::new(0),
            serving_until: AtomicU64::new(0),
            epoch: Instant::now(),
            metrics,
            changed: tokio::sync::Notify::new(),
        }
    }

    /// Notified whenever a change is heard (and when the listener reconnects, since changes
    /// may have been missed): what a long poll of the revocation feed waits on.
    pub fn changes(&self) -> &tokio::sync::Notify {
        &self.changed
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the cache may serve now.
    pub fn serving(&self) -> bool {
        self.capacity > 0 && self.millis(Instant::now()) < self.serving_until.load(Ordering::SeqCst)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The record of `(user, sid)`, if the cache may serve and holds it.
    pub fn lookup(&self, user: i32, sid: Option<&str>) -> Lookup {
        if !self.serving() {
            self.metrics.auth_cache("bypass");
            return Lookup::Bypass;
        }
        let ticket = Ticket(self.generation.load(Ordering::SeqCst));
        let entries = self.entries();
        let found = entries
            .by_user
            .get(&user)
            .and_then(|records| records.get(&sid.map(str::to_owned)))
            .filter(|e| e.stored_at.elapsed() < MAX_AGE)
            .map(|e| e.record.clone());
        drop(entries);
        match found {
            Some(record) => {
                self.metrics.auth_cache("hit");
                Lookup::Hit(record)
            }
            None => {
                self.metrics.auth_cache("miss");
                Lookup::Miss(ticket)
            }
        }
    }

    /// Keeps a record read from the database after a miss, unless a change was heard since
    /// (or the cache stopped serving).
    pub fn store(&self, ticket: Ticket, user: i32, sid: Option<&str>, record: AuthRecord) {
        let mut entries = self.entries();
        // Checked under the lock that forgetting takes too: no change can slip between.
        if self.generation.load(Ordering::SeqCst) != ticket.0 || !self.serving() {
            return;
        }
        if entries.len >= self.capacity {
            // Room for one: evict some user's records (the map's order is arbitrary).
            let victim = entries.by_user.keys().next().copied();
            if let Some(victim) = victim {
                entries.forget_user(victim);
            }
        }
        let key = sid.map(str::to_owned);
        let records = entries.by_user.entry(user).or_default();
        let new = records
            .insert(
                key.clone(),
                Entry {
                    record,
                    stored_at: Instant::now(),
                },
            )
            .is_none();
        if new {
            entries.len += 1;
        }
        if let Some(sid) = key {
            entries.by_sid.insert(sid, user);
        }
        self.metrics.auth_cache_entries.set(entries.len as i64);
    }

    /// Forgets the records of a user (their row changed).
    pub fn forget_user(&self, user: i32) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.forget_user(user);
        self.metrics.auth_cache_entries.set(entries.len as i64);
    }

    /// Forgets the record of a session (revoked, moved or deleted).
    pub fn forget_session(&self, sid: &str) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.forget_session(sid);
        self.metrics.auth_cache_entries.set(entries.len as i64);
    }

    /// Forgets everything.
    pub fn forget_all(&self) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::SeqCst);
        *entries = Entries::default();
        self.metrics.auth_cache_entries.set(0);
    }

    /// Applies a change heard from the database.
    pub fn apply(&self, change: &Change) {
        match change {
            Change::User(id) => self.forget_user(*id),
            Change::Session(sid) => self.forget_session(sid),
            Change::Everything => self.forget_all(),
        }
        self.changed.notify_waiters();
    }

    /// The listener proved alive now: the cache may serve for [`LEASE`].
    fn vouch(&self) {
        self.vouch_from(Instant::now());
    }

    /// The listener is lost: no more serving.
    fn withdraw(&self) {
        self.serving_until.store(0, Ordering::SeqCst);
    }

    /// Records in memory.
    pub fn len(&self) -> usize {
        self.entries().len
    }

    /// Whether no record is in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The running listener: dropping it stops the thread (and the cache stops serving).
#[derive(Debug)]
pub struct ListenerTask {
    name: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    cache: Arc<AuthCache>,
}

impl ListenerTask {
    /// No listener: the cache never serves.
    pub fn none(cache: Arc<AuthCache>) -> Self {
        Self {
            name: String::new(),
            stop: Arc::new(AtomicBool::new(true)),
            thread: None,
            cache,
        }
    }

    /// The listener's connection name (PostgreSQL `application_name`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.cache.withdraw();
        self.cache.forget_all();
    }
}

/// Starts the listener of `cache` on the database at `url`. Keep the value for as long as
/// the cache should serve.
pub fn spawn(url: &str, cache: Arc<AuthCache>, metrics: Arc<Metrics>) -> ListenerTask {
    let mut suffix = [0u8; 4];
    let _ = getrandom::fill(&mut suffix);
    let name = format!(
        "users-api-listener-{}",
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (url, name, stop, cache) = (
            url.to_owned(),
            name.clone(),
            Arc::clone(&stop),
            Arc::clone(&cache),
        );
        std::thread::Builder::new()
            .name("auth-listener".into())
            .spawn(move || listen(&url, &name, &stop, &cache, &metrics))
    };
    let thread = match thread {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(error = %e, "auth cache: cannot start its listener; the cache stays off");
            None
        }
    };
    ListenerTask {
        name,
        stop,
        thread,
        cache,
    }
}

fn listen(url: &str, name: &str, stop: &AtomicBool, cache: &AuthCache, metrics: &Metrics) {
    let mut backoff = Duration::from_millis(100);
    let mut lost_before = false;
    while !stop.load(Ordering::SeqCst) {
        let mut listener = match Listener::connect(url, name) {
            Ok(l) => l,
            Err(e) => {
                if !lost_before {
                    tracing::warn!(error = %crate::error::ErrorChain(&e), "auth cache: listener cannot connect; bypassing the cache");
                    lost_before = true;
                }
                sleep_unless_stopped(stop, backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        // Subscribed: anything committed from now on is heard. What was missed before is
        // forgotten, then the cache may serve.
        cache.forget_all();
        cache.changed.notify_waiters();
        if listener.heartbeat().is_err() {
            continue;
        }
        cache.vouch();
        metrics.auth_listener_connects.inc();
        metrics.auth_listener_up.set(1);
        if lost_before {
            tracing::info!("auth cache: listener connected again; serving");
        }
        lost_before = false;
        backoff = Duration::from_millis(100);
        let outcome = follow(&mut listener, stop, cache);
        cache.withdraw();
        cache.forget_all();
        metrics.auth_listener_up.set(0);
        if let Err(e) = outcome {
            tracing::warn!(error = %crate::error::ErrorChain(&e), "auth cache: listener lost; bypassing the cache until it reconnects");
            lost_before = true;
        }
    }
}

/// Applies notifications until the listener fails (or the task stops).
fn follow(
    listener: &mut Listener,
    stop: &AtomicBool,
    cache: &AuthCache,
) -> Result<(), users_db::DbError> {
    let mut last_beat = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        for change in listener.poll()? {
            cache.apply(&change);
        }
        if last_beat.elapsed() >= HEARTBEAT {
            // The lease starts before the round trip: what was committed before it began
            // has been heard by then.
            let started = Instant::now();
            listener.heartbeat()?;
            for change in listener.poll()? {
                cache.apply(&change);
            }
            if started.elapsed() < LEASE {
                cache.vouch_from(started);
            }
            last_beat = started;
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}

impl AuthCache {
    /// [`AuthCache::vouch`], counting the lease from `at`.
    fn vouch_from(&self, at: Instant) {
        let until = self.millis(at + LEASE);
        self.serving_until.store(until, Ordering::SeqCst);
    }
}

fn sleep_unless_stopped(stop: &AtomicBool, total: Duration) {
    let deadline = Instant::now() + total;
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use users_domain::{User, UserId};

    fn record(id: i32) -> AuthRecord {
        let user = User {
            id: UserId::new(id),
            ..test_user()
        };
        AuthRecord {
            user,
            session: None,
        }
    }

    fn test_user() -> User {
        User {
            id: UserId::new(1),
            username: "ann".into(),
            email: "ann@example.com".into(),
            password_hash: users_domain::PasswordHash::from_stored("$argon2id$x".to_owned()),
            active: true,
            admin: false,
            created_at: users_domain::now_utc(),
            email_verified_at: None,
        }
    }

    fn cache(capacity: usize) -> AuthCache {
        let c = AuthCache::new(capacity, Arc::new(Metrics::new()));
        c.vouch();
        c
    }

    fn store(c: &AuthCache, id: i32, sid: Option<&str>) {
        let Lookup::Miss(t) = c.lookup(id, sid) else {
            panic!("expected a miss");
        };
        c.store(t, id, sid, record(id));
    }

    #[test]
    fn hits_after_a_store_and_forgets_by_user_and_by_session() {
        let c = cache(100);
        store(&c, 1, Some("a"));
        store(&c, 1, Some("b"));
        store(&c, 2, None);
        assert!(matches!(c.lookup(1, Some("a")), Lookup::Hit(_)));
        assert_eq!(c.len(), 3);
        c.forget_session("a");
        assert!(matches!(c.lookup(1, Some("a")), Lookup::Miss(_)));
        assert!(matches!(c.lookup(1, Some("b")), Lookup::Hit(_)));
        c.forget_user(1);
        assert!(matches!(c.lookup(1, Some("b")), Lookup::Miss(_)));
        assert!(matches!(c.lookup(2, None), Lookup::Hit(_)));
        c.apply(&Change::Everything);
        assert!(c.is_empty());
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let c = cache(100);
        let Lookup::Miss(ticket) = c.lookup(1, Some("a")) else {
            panic!("miss");
        };
        // The change is heard between the miss (and its database read) and the store.
        c.apply(&Change::User(1));
        c.store(ticket, 1, Some("a"), record(1));
        assert!(matches!(c.lookup(1, Some("a")), Lookup::Miss(_)));
    }

    #[test]
    fn without_a_listener_vouching_it_bypasses() {
        let c = AuthCache::new(100, Arc::new(Metrics::new()));
        assert!(matches!(c.lookup(1, None), Lookup::Bypass));
        c.vouch();
        store(&c, 1, None);
        c.withdraw();
        assert!(matches!(c.lookup(1, None), Lookup::Bypass));
        // Nothing is stored while withdrawn either.
        c.vouch();
        let Lookup::Hit(_) = c.lookup(1, None) else {
            panic!("the record survived a withdraw without a forget_all");
        };
        let off = AuthCache::new(0, Arc::new(Metrics::new()));
        off.vouch();
        assert!(matches!(off.lookup(1, None), Lookup::Bypass));
    }

    #[test]
    fn memory_is_bounded() {
        let c = cache(10);
        for id in 0..100 {
            store(&c, id, Some(&format!("s{id}")));
            assert!(c.len() <= 10);
        }
        let e = c.entries();
        assert_eq!(e.len, e.by_user.values().map(HashMap::len).sum::<usize>());
        assert_eq!(e.by_sid.len(), e.len);
    }
}

/// Tokens whose signature and claims were already verified, with their claims: the same
/// token presented again skips the signature and the JSON (a token's claims never change;
/// its `exp` is checked again on every use, so an expired one is refused as before). At
/// most `capacity` tokens; when full, it starts over. A forged token is not in it (the key
/// is the whole token, signature included), so nothing is trusted that was not verified.
pub struct VerifiedTokens {
    tokens: Mutex<HashMap<Box<str>, users_domain::Claims>>,
    capacity: usize,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl VerifiedTokens {
    /// At most `capacity` tokens (0: none kept).
    pub fn new(capacity: usize) -> Self {
        Self {
            tokens: Mutex::default(),
            capacity,
        }
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, users_domain::Claims>> {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The claims of `token` if it was verified before and has not expired since.
    pub fn get(&self, token: &str) -> Option<users_domain::Claims> {
        if self.capacity == 0 {
            return None;
        }
        let claims = self.tokens().get(token).cloned()?;
        (auth_token::unix_now() < claims.exp).then_some(claims)
    }

    /// Remembers a token that was just verified.
    pub fn put(&self, token: &str, claims: &users_domain::Claims) {
        if self.capacity == 0 {
            return;
        }
        let mut tokens = self.tokens();
        if tokens.len() >= self.capacity {
            tokens.clear();
        }
        tokens.insert(token.into(), claims.clone());
    }
}

#[cfg(test)]
mod verified_tests {
    use super::*;
    use users_domain::{Claims, UserId};

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: UserId::new(1),
            iat: 0,
            exp,
            nbf: None,
            jti: None,
            sid: Some("s".into()),
            iss: None,
            aud: None,
        }
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires() {
        let v = VerifiedTokens::new(2);
        let later = auth_token::unix_now() + 60;
        v.put("a", &claims(later));
        assert_eq!(v.get("a").map(|c| c.exp), Some(later));
        assert!(v.get("b").is_none());
        v.put("old", &claims(auth_token::unix_now()));
        assert!(
            v.get("old").is_none(),
            "expired from the second its exp names"
        );
        // Full: it starts over.
        v.put("c", &claims(later));
        assert!(v.get("a").is_none());
        assert!(v.get("c").is_some());
        let off = VerifiedTokens::new(0);
        off.put("a", &claims(later));
        assert!(off.get("a").is_none());
    }
}
