-- Part C, second factor. The TOTP secret is sealed (XChaCha20-Poly1305 under a key derived
-- from SECRET_KEY); `enabled_at` NULL is a pending enrolment; `last_step` is the step of the
-- last accepted code, so no code is accepted twice.
CREATE TABLE mfa_totp (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    enabled_at TIMESTAMP WITHOUT TIME ZONE,
    last_step BIGINT
);

-- Recovery codes, stored only as keyed hashes; single use.
CREATE TABLE mfa_recovery_codes (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash VARCHAR(64) NOT NULL,
    used_at TIMESTAMP WITHOUT TIME ZONE,
    UNIQUE (user_id, code_hash)
);

-- The `mfa_token` of a two-step login, stored as a hash, with its expiry and wrong codes.
CREATE TABLE mfa_login_tokens (
    token_hash VARCHAR(64) PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    expires_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    wrong_codes INTEGER NOT NULL DEFAULT 0,
    used_at TIMESTAMP WITHOUT TIME ZONE
);

CREATE INDEX mfa_login_tokens_user_id_idx ON mfa_login_tokens (user_id);
CREATE INDEX mfa_login_tokens_expires_at_idx ON mfa_login_tokens (expires_at);
