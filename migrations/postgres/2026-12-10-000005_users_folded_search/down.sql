DROP INDEX users_email_folded_idx;
DROP INDEX users_username_folded_idx;
ALTER TABLE users DROP COLUMN email_folded;
ALTER TABLE users DROP COLUMN username_folded;
CREATE INDEX users_username_lower_prefix_idx ON users (lower(username) text_pattern_ops);
CREATE INDEX users_email_lower_prefix_idx ON users (lower(email) text_pattern_ops);
