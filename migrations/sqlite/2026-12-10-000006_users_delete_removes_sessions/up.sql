-- Deleting a user deletes their sessions, also when an operator does it with plain SQL:
-- a plain `sqlite3` connection has foreign keys off, so ON DELETE CASCADE does not run
-- there, and a later user given the same id (import-flask copies ids) would inherit the
-- sessions and their tokens. Triggers run whatever the foreign_keys pragma says.
CREATE TRIGGER users_delete_removes_sessions
AFTER DELETE ON users
FOR EACH ROW
BEGIN
    DELETE FROM sessions WHERE user_id = OLD.id;
END;
