-- The periodic purge (users_db::purge, run by the service's maintenance task) finds rows
-- past their use through these: sessions that ended, sessions revoked long enough ago,
-- failed logins older than the throttling window.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at);
CREATE INDEX login_failures_failed_at_idx ON login_failures (failed_at);
