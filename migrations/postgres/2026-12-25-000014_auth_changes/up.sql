-- Every instance keeps the user and session records of recent tokens in memory; these
-- notifications (channel `auth_changes`, sent when the changing transaction commits) tell
-- each one which to forget: `u:<id>` for a user row updated or deleted (any column: a name,
-- the admin flag, a password hash), `s:<id>` for a session revoked, its end moved, or
-- deleted. A plain-SQL change notifies too. Refresh rotation (counter, last_seen_at) does
-- not notify: the cached record does not hold it.
CREATE FUNCTION auth_change_notify() RETURNS trigger AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('auth_changes', 'u:' || OLD.id::text);
    ELSE
        PERFORM pg_notify('auth_changes', 's:' || OLD.id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_auth_change
AFTER UPDATE OR DELETE ON users
FOR EACH ROW
EXECUTE FUNCTION auth_change_notify();

CREATE TRIGGER sessions_auth_change
AFTER UPDATE OF revoked_at, expires_at, user_id, created_at OR DELETE ON sessions
FOR EACH ROW
EXECUTE FUNCTION auth_change_notify();
