-- Part C's revocation feed: one row per revocation, written by triggers in the transaction
-- that revokes, whatever the path (the service, or an operator's plain SQL). A row is a
-- session revoked (`sid`) or a user deactivated or deleted (`user_id`).
--
-- Every writer takes one transaction-level advisory lock before it draws its `seq`, so
-- events commit in `seq` order: a reader that has seen `seq` n has seen every event below
-- n, and resuming after n misses none. Revocations are rare; the lock is held only until
-- the revoking transaction commits.
CREATE TABLE revocation_events (
    seq BIGSERIAL PRIMARY KEY,
    sid VARCHAR(64),
    user_id INTEGER,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT (clock_timestamp() AT TIME ZONE 'utc')
);

CREATE INDEX revocation_events_created_at_idx ON revocation_events (created_at);

CREATE FUNCTION revocation_event(p_sid VARCHAR, p_user_id INTEGER) RETURNS void AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('revocation_events', 0));
    INSERT INTO revocation_events (sid, user_id) VALUES (p_sid, p_user_id);
    PERFORM pg_notify('revocation_events', '');
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION sessions_revocation_event() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM revocation_event(OLD.id, NULL);
        RETURN OLD;
    END IF;
    PERFORM revocation_event(NEW.id, NULL);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER sessions_revoked_event
AFTER UPDATE OF revoked_at ON sessions
FOR EACH ROW
WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION sessions_revocation_event();

-- A live session deleted (not by the purge, which deletes only ended or revoked ones).
CREATE TRIGGER sessions_deleted_event
AFTER DELETE ON sessions
FOR EACH ROW
WHEN (OLD.revoked_at IS NULL AND OLD.expires_at > (now() AT TIME ZONE 'utc'))
EXECUTE FUNCTION sessions_revocation_event();

CREATE FUNCTION users_revocation_event() RETURNS trigger AS $$
BEGIN
    PERFORM revocation_event(NULL, OLD.id);
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_deactivated_event
AFTER UPDATE OF active ON users
FOR EACH ROW
WHEN (OLD.active AND NOT NEW.active)
EXECUTE FUNCTION users_revocation_event();

CREATE TRIGGER users_deleted_event
AFTER DELETE ON users
FOR EACH ROW
EXECUTE FUNCTION users_revocation_event();
