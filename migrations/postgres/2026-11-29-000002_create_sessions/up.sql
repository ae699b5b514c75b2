-- Login sessions: access tokens carry `sid`; refresh tokens are derived from (id, refresh_counter).
CREATE TABLE sessions (
    id VARCHAR(64) PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    expires_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    revoked_at TIMESTAMP WITHOUT TIME ZONE,
    refresh_counter BIGINT NOT NULL DEFAULT 0,
    rotated_at TIMESTAMP WITHOUT TIME ZONE
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Deactivating a user revokes their sessions, also when an operator does it with plain SQL.
CREATE FUNCTION users_deactivation_revokes_sessions() RETURNS trigger AS $$
BEGIN
    UPDATE sessions SET revoked_at = (now() AT TIME ZONE 'utc')
    WHERE user_id = NEW.id AND revoked_at IS NULL;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_deactivation_revokes_sessions
AFTER UPDATE OF active ON users
FOR EACH ROW
WHEN (OLD.active AND NOT NEW.active)
EXECUTE FUNCTION users_deactivation_revokes_sessions();
