-- Part C's sessions view (see the PostgreSQL twin).
ALTER TABLE sessions ADD COLUMN user_agent VARCHAR(512);
ALTER TABLE sessions ADD COLUMN last_seen_at TIMESTAMP;
UPDATE sessions SET last_seen_at = COALESCE(rotated_at, created_at);
CREATE INDEX sessions_user_id_created_at_idx ON sessions (user_id, created_at DESC);
