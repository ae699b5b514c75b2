-- Part C, second factor (see the PostgreSQL twin).
CREATE TABLE mfa_totp (
    user_id INTEGER PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    enabled_at TIMESTAMP,
    last_step BIGINT
);

CREATE TABLE mfa_recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash VARCHAR(64) NOT NULL,
    used_at TIMESTAMP,
    UNIQUE (user_id, code_hash)
);

CREATE TABLE mfa_login_tokens (
    token_hash VARCHAR(64) PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    wrong_codes INTEGER NOT NULL DEFAULT 0,
    used_at TIMESTAMP
);

CREATE INDEX mfa_login_tokens_user_id_idx ON mfa_login_tokens (user_id);
CREATE INDEX mfa_login_tokens_expires_at_idx ON mfa_login_tokens (expires_at);

-- A user deleted with plain SQL (foreign keys off) leaves no factor for a later user
-- given the same id.
CREATE TRIGGER users_delete_removes_mfa
AFTER DELETE ON users
FOR EACH ROW
BEGIN
    DELETE FROM mfa_totp WHERE user_id = OLD.id;
    DELETE FROM mfa_recovery_codes WHERE user_id = OLD.id;
    DELETE FROM mfa_login_tokens WHERE user_id = OLD.id;
END;
