-- Refresh rotation in one call whose plan the server keeps. diesel never prepares an UPDATE
-- for reuse, so the conditional update of `users_db::sessions::rotate_current`, sent as SQL,
-- was parsed and planned (a semi-join of sessions and users) on every refresh: most of the
-- server's CPU in the refresh benchmark. `SELECT rotate_session(...)` is a statement diesel
-- prepares once per connection, and PL/pgSQL keeps the plan of the UPDATE inside.
--
-- The current refresh token of a live session whose owner is active and is the account that
-- opened it: advance the counter to `presented + 1`, stamp the rotation, and return the owner.
-- NULL when the row does not match (not current, revoked, ended, owner inactive or replaced).
-- The caller checks that `presented + 1` does not overflow.
CREATE FUNCTION rotate_session(p_id TEXT, p_presented BIGINT, p_now TIMESTAMP)
RETURNS INTEGER AS $$
DECLARE
    owner INTEGER;
BEGIN
    UPDATE sessions
    SET refresh_counter = p_presented + 1, rotated_at = p_now, last_seen_at = p_now
    WHERE sessions.id = p_id
      AND sessions.refresh_counter = p_presented
      AND sessions.revoked_at IS NULL
      AND sessions.expires_at > p_now
      AND EXISTS (
          SELECT 1 FROM users
          WHERE users.id = sessions.user_id
            AND users.active
            AND users.created_at <= sessions.created_at
      )
    RETURNING sessions.user_id INTO owner;
    RETURN owner;
END;
$$ LANGUAGE plpgsql;
