//! The database schema, portable across SQLite and PostgreSQL.
//!
//! Hand-kept to the types both backends share (Integer, Varchar, Bool, Timestamp); the
//! migrations in `migrations/{sqlite,postgres}` create exactly this.

diesel::table! {
    /// The contract's users table (CONTRACT.md, "Users table").
    users (id) {
        /// Primary key, auto-increment.
        id -> Integer,
        /// Unique username.
        #[max_length = 128]
        username -> Varchar,
        /// Unique email.
        #[max_length = 128]
        email -> Varchar,
        /// The password hash (PHC string), never the password.
        #[max_length = 255]
        password -> Varchar,
        /// Whether the user may use protected routes.
        active -> Bool,
        /// Whether the user is an administrator.
        admin -> Bool,
        /// Creation time, UTC without zone.
        created_at -> Timestamp,
        /// `username` case-folded by users-db ([`crate::users::fold`]), for prefix search;
        /// `''` until filled in (rows written by plain SQL, see `users::backfill_folded`).
        /// Not part of the contract's table.
        username_folded -> Text,
        /// `email` case-folded the same way.
        email_folded -> Text,
        /// When the address was verified; `NULL` for an account that has not verified it
        /// (accounts from before Part C's migration count as verified).
        email_verified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Login sessions. Access tokens carry the session id as `sid`; refresh tokens are
    /// derived from `(id, refresh_counter)` and never stored.
    sessions (id) {
        /// Random session id.
        #[max_length = 64]
        id -> Varchar,
        /// The user; the row is deleted with the user.
        user_id -> Integer,
        /// Opened at, UTC.
        created_at -> Timestamp,
        /// The session ends at this time, UTC.
        expires_at -> Timestamp,
        /// Set when the session is revoked (logout, reuse detected, deactivation).
        revoked_at -> Nullable<Timestamp>,
        /// Index of the current refresh token.
        refresh_counter -> BigInt,
        /// When the counter last moved.
        rotated_at -> Nullable<Timestamp>,
        /// The `User-Agent` of the login or registration that opened it (at most 512
        /// characters).
        #[max_length = 512]
        user_agent -> Nullable<Varchar>,
        /// Opened or last refreshed at, UTC.
        last_seen_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// One row per failed login, per account and per client address (throttling).
    login_failures (id) {
        /// Primary key.
        id -> Integer,
        /// `account` or `address`.
        #[max_length = 16]
        scope -> Varchar,
        /// The lower-cased email as given, or the client address.
        #[max_length = 255]
        subject -> Varchar,
        /// When the attempt failed, UTC.
        failed_at -> Timestamp,
    }
}

diesel::table! {
    /// The transactional mail outbox: written in the transaction that makes the token a
    /// mail carries, delivered by the service's delivery task.
    mail_outbox (id) {
        /// Primary key, increasing.
        id -> BigInt,
        /// The account the mail is for (`NULL` once it is deleted).
        user_id -> Nullable<Integer>,
        /// What the mail is for (`verify`, `change`, `notice`, `reset`).
        #[max_length = 32]
        purpose -> Varchar,
        /// The `To` address.
        #[max_length = 255]
        recipient -> Varchar,
        /// The `Subject`.
        #[max_length = 255]
        subject -> Varchar,
        /// The plain-text body, sealed with a key derived from `SECRET_KEY` (it holds the
        /// link, and so the token); erased once delivered or given up.
        body -> Nullable<Text>,
        /// Written at, UTC.
        created_at -> Timestamp,
        /// Delivery attempts made.
        attempts -> Integer,
        /// Not to be tried before this time, UTC.
        next_attempt_at -> Timestamp,
        /// A delivery task holds the row until this time, UTC.
        claimed_until -> Nullable<Timestamp>,
        /// Delivered at, UTC.
        sent_at -> Nullable<Timestamp>,
        /// Given up at, UTC.
        failed_at -> Nullable<Timestamp>,
        /// The last delivery error (the SMTP reply or the connection error), no secrets.
        #[max_length = 255]
        last_error -> Nullable<Varchar>,
    }
}

diesel::table! {
    /// The single-use tokens of mail links, as SHA-256 hashes.
    mail_tokens (token_hash) {
        /// Hex SHA-256 of the token.
        #[max_length = 64]
        token_hash -> Varchar,
        /// The account.
        user_id -> Integer,
        /// `verify`, `change` or `reset`.
        #[max_length = 16]
        purpose -> Varchar,
        /// The address the link was sent to (the new address for `change`).
        #[max_length = 128]
        email -> Varchar,
        /// Made at, UTC.
        created_at -> Timestamp,
        /// Refused from this time, UTC.
        expires_at -> Timestamp,
        /// Spent at, UTC.
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// A user's TOTP factor: pending (`enabled_at` NULL) or enabled.
    mfa_totp (user_id) {
        /// The user.
        user_id -> Integer,
        /// The secret, sealed with a key derived from `SECRET_KEY` (never plain).
        secret_sealed -> Text,
        /// Enrolment started at, UTC.
        created_at -> Timestamp,
        /// Confirmed at, UTC; `NULL` while pending.
        enabled_at -> Nullable<Timestamp>,
        /// The step of the last accepted code (replay protection).
        last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Recovery codes, as keyed hashes; single use.
    mfa_recovery_codes (id) {
        /// Primary key.
        id -> Integer,
        /// The user.
        user_id -> Integer,
        /// Hex HMAC-SHA256 of the normalised code.
        #[max_length = 64]
        code_hash -> Varchar,
        /// Used at, UTC.
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// The `mfa_token`s of two-step logins, as SHA-256 hashes.
    mfa_login_tokens (token_hash) {
        /// Hex SHA-256 of the token.
        #[max_length = 64]
        token_hash -> Varchar,
        /// The user whose password was right.
        user_id -> Integer,
        /// Made at, UTC.
        created_at -> Timestamp,
        /// Refused from this time, UTC.
        expires_at -> Timestamp,
        /// Wrong codes presented with it.
        wrong_codes -> Integer,
        /// Spent by a completed login, UTC.
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Revocations, in commit order (written by triggers): a session (`sid`) or a user
    /// (`user_id`, deactivated or deleted).
    revocation_events (seq) {
        /// Increasing; an event is visible only once every lower one is.
        seq -> BigInt,
        /// The revoked session.
        #[max_length = 64]
        sid -> Nullable<Varchar>,
        /// The deactivated or deleted user.
        user_id -> Nullable<Integer>,
        /// Written at, UTC.
        created_at -> Timestamp,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(mfa_totp -> users (user_id));
diesel::joinable!(mfa_recovery_codes -> users (user_id));
diesel::joinable!(mfa_login_tokens -> users (user_id));
diesel::joinable!(mail_outbox -> users (user_id));
diesel::joinable!(mail_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    login_failures,
    mail_outbox,
    mail_tokens,
    mfa_totp,
    mfa_recovery_codes,
    mfa_login_tokens,
    revocation_events,
);
