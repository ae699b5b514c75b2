-- Part C: the single-use tokens that mail links carry (see the PostgreSQL twin).
CREATE TABLE mail_tokens (
    token_hash VARCHAR(64) PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose VARCHAR(16) NOT NULL,
    email VARCHAR(128) NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX mail_tokens_user_purpose_idx ON mail_tokens (user_id, purpose);
CREATE INDEX mail_tokens_expires_at_idx ON mail_tokens (expires_at);

CREATE INDEX mail_outbox_user_purpose_idx ON mail_outbox (user_id, purpose, created_at);
CREATE INDEX mail_outbox_finished_idx ON mail_outbox (created_at)
    WHERE sent_at IS NOT NULL OR failed_at IS NOT NULL;

-- Deleting a user with plain SQL (foreign keys off) leaves no token of theirs behind.
CREATE TRIGGER users_delete_removes_mail_tokens
AFTER DELETE ON users
FOR EACH ROW
BEGIN
    DELETE FROM mail_tokens WHERE user_id = OLD.id;
END;
