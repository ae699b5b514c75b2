DROP TRIGGER users_deleted_event;
DROP TRIGGER users_deactivated_event;
DROP TRIGGER sessions_deleted_event;
DROP TRIGGER sessions_revoked_event;
DROP TABLE revocation_events;
