-- Prefix search (`GET /users?q=`) compares case-folded text, folded by users-db in Rust
-- (users::fold) on both sides: SQLite's lower() and LIKE fold ASCII only. users-db writes
-- these columns on every insert, update and import. SQL cannot fold Unicode here, so rows
-- that exist now (or that plain SQL inserts later) hold '' until users-db fills them in:
-- run_migrations does it right after migrating, at every start-up (users::backfill_folded).
ALTER TABLE users ADD COLUMN username_folded TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email_folded TEXT NOT NULL DEFAULT '';

-- Ranges on the folded columns replace the lower() expression indexes.
DROP INDEX users_username_lower_idx;
DROP INDEX users_email_lower_idx;
CREATE INDEX users_username_folded_idx ON users (username_folded);
CREATE INDEX users_email_folded_idx ON users (email_folded);
