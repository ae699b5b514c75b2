-- Prefix search (`GET /users?q=`) compares case-folded text, folded by users-db in Rust
-- (users::fold) on both sides: PostgreSQL's lower() depends on the database's ctype (a `C`
-- database folds ASCII only). users-db writes these columns on every insert, update and
-- import; rows that exist now (or that plain SQL inserts later) hold '' until users-db
-- fills them in: run_migrations does it right after migrating, at every start-up
-- (users::backfill_folded). COLLATE "C": byte order, so a prefix is one index range
-- whatever the database's collation.
ALTER TABLE users ADD COLUMN username_folded TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email_folded TEXT COLLATE "C" NOT NULL DEFAULT '';

-- Ranges on the folded columns replace the lower() text_pattern_ops indexes.
DROP INDEX users_username_lower_prefix_idx;
DROP INDEX users_email_lower_prefix_idx;
CREATE INDEX users_username_folded_idx ON users (username_folded);
CREATE INDEX users_email_folded_idx ON users (email_folded);
