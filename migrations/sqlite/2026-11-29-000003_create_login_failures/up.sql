-- Failed logins, per account (the email as given, lower-cased) and per client address, so
-- that every instance of the service counts the same attempts. One row per failure: the
-- window slides, and inserts never contend on a shared counter.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    scope VARCHAR(16) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    failed_at TIMESTAMP NOT NULL
);

CREATE INDEX login_failures_subject_idx ON login_failures (scope, subject, failed_at);
