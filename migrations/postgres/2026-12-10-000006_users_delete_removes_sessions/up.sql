-- The SQLite twin adds a trigger that deletes a deleted user's sessions, because plain
-- SQLite connections have foreign keys off. PostgreSQL always enforces sessions.user_id's
-- ON DELETE CASCADE, so nothing changes here.
SELECT 1;
