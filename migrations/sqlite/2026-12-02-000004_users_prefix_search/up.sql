-- Prefix search (`GET /users?q=`) with a rare prefix: SQLite cannot use an index for
-- lower(col) LIKE 'prefix%', so users-db asks these expression indexes with the equivalent
-- range lower(col) >= 'prefix' AND lower(col) < successor('prefix') (see users::list).
CREATE INDEX users_username_lower_idx ON users (lower(username));
CREATE INDEX users_email_lower_idx ON users (lower(email));
