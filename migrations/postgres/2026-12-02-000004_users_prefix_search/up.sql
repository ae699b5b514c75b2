-- Prefix search (`GET /users?q=`) filters on lower(username) / lower(email) LIKE 'prefix%'.
-- text_pattern_ops indexes serve LIKE prefixes whatever the database's collation, so a rare
-- prefix is two index range scans instead of a walk over the whole table. (SQLite cannot
-- index LIKE on an expression; its migration adds plain expression indexes for a range.)
CREATE INDEX users_username_lower_prefix_idx ON users (lower(username) text_pattern_ops);
CREATE INDEX users_email_lower_prefix_idx ON users (lower(email) text_pattern_ops);
