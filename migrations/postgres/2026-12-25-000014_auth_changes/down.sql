DROP TRIGGER sessions_auth_change ON sessions;
DROP TRIGGER users_auth_change ON users;
DROP FUNCTION auth_change_notify();
