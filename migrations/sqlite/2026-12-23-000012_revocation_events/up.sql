-- Part C's revocation feed (see the PostgreSQL twin). SQLite has one writer at a time, so
-- events commit in `seq` order by themselves.
CREATE TABLE revocation_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid VARCHAR(64),
    user_id INTEGER,
    created_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);

CREATE INDEX revocation_events_created_at_idx ON revocation_events (created_at);

CREATE TRIGGER sessions_revoked_event
AFTER UPDATE OF revoked_at ON sessions
FOR EACH ROW
WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
    INSERT INTO revocation_events (sid) VALUES (NEW.id);
END;

CREATE TRIGGER sessions_deleted_event
AFTER DELETE ON sessions
FOR EACH ROW
WHEN OLD.revoked_at IS NULL AND OLD.expires_at > strftime('%Y-%m-%d %H:%M:%f', 'now')
BEGIN
    INSERT INTO revocation_events (sid) VALUES (OLD.id);
END;

CREATE TRIGGER users_deactivated_event
AFTER UPDATE OF active ON users
FOR EACH ROW
WHEN OLD.active AND NOT NEW.active
BEGIN
    INSERT INTO revocation_events (user_id) VALUES (OLD.id);
END;

CREATE TRIGGER users_deleted_event
AFTER DELETE ON users
FOR EACH ROW
BEGIN
    INSERT INTO revocation_events (user_id) VALUES (OLD.id);
END;
