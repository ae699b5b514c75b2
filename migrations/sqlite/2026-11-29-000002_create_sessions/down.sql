DROP TRIGGER users_deactivation_revokes_sessions;
DROP INDEX sessions_user_id_idx;
DROP TABLE sessions;
