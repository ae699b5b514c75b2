DROP TRIGGER users_deleted_event ON users;
DROP TRIGGER users_deactivated_event ON users;
DROP FUNCTION users_revocation_event();
DROP TRIGGER sessions_deleted_event ON sessions;
DROP TRIGGER sessions_revoked_event ON sessions;
DROP FUNCTION sessions_revocation_event();
DROP FUNCTION revocation_event(VARCHAR, INTEGER);
DROP TABLE revocation_events;
