DROP TRIGGER users_deactivation_revokes_sessions ON users;
DROP FUNCTION users_deactivation_revokes_sessions();
DROP TABLE sessions;
