DROP INDEX IF EXISTS users_created_at_id_idx;
DROP INDEX IF EXISTS users_email_key;
DROP INDEX IF EXISTS users_username_key;
DROP TABLE IF EXISTS users;
