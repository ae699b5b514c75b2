-- Part C: accounts gain a verification time; accounts from before this migration count
-- as verified. New accounts start unverified (NULL).
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMP;
UPDATE users SET email_verified_at = created_at;

-- The transactional outbox (see the PostgreSQL twin).
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    purpose VARCHAR(32) NOT NULL,
    recipient VARCHAR(255) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    body TEXT,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    sent_at TIMESTAMP,
    failed_at TIMESTAMP,
    last_error VARCHAR(255)
);

CREATE INDEX mail_outbox_pending_idx ON mail_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;

-- Deleting a user with plain SQL (foreign keys off) leaves no mail addressed for them.
CREATE TRIGGER users_delete_clears_mail_user
AFTER DELETE ON users
FOR EACH ROW
BEGIN
    UPDATE mail_outbox SET user_id = NULL WHERE user_id = OLD.id;
END;
