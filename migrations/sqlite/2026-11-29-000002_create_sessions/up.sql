-- Login sessions: access tokens carry `sid`; refresh tokens are derived from (id, refresh_counter).
CREATE TABLE sessions (
    id VARCHAR(64) PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    refresh_counter BIGINT NOT NULL DEFAULT 0,
    rotated_at TIMESTAMP
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Deactivating a user revokes their sessions, also when an operator does it with plain SQL.
CREATE TRIGGER users_deactivation_revokes_sessions
AFTER UPDATE OF active ON users
WHEN OLD.active AND NOT NEW.active
BEGIN
    UPDATE sessions SET revoked_at = CURRENT_TIMESTAMP
    WHERE user_id = NEW.id AND revoked_at IS NULL;
END;
