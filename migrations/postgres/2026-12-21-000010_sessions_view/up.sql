-- Part C's sessions view: the User-Agent that opened a session, and when it was last used
-- to log in or refresh.
ALTER TABLE sessions ADD COLUMN user_agent VARCHAR(512);
ALTER TABLE sessions ADD COLUMN last_seen_at TIMESTAMP WITHOUT TIME ZONE;
UPDATE sessions SET last_seen_at = COALESCE(rotated_at, created_at);
-- The caller's live sessions, newest first.
CREATE INDEX sessions_user_id_created_at_idx ON sessions (user_id, created_at DESC);
