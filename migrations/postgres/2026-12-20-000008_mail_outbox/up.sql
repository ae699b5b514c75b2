-- Part C: accounts gain a verification time; accounts from before this migration count
-- as verified. New accounts start unverified (NULL).
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMP WITHOUT TIME ZONE;
UPDATE users SET email_verified_at = created_at;

-- The transactional outbox: a mail is written in the same transaction as the token it
-- carries and delivered by the service's delivery task. `body` holds the link (and so the
-- token) only until the mail is delivered or given up, then it is erased.
CREATE TABLE mail_outbox (
    id BIGSERIAL PRIMARY KEY,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    purpose VARCHAR(32) NOT NULL,
    recipient VARCHAR(255) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    body TEXT,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    claimed_until TIMESTAMP WITHOUT TIME ZONE,
    sent_at TIMESTAMP WITHOUT TIME ZONE,
    failed_at TIMESTAMP WITHOUT TIME ZONE,
    last_error VARCHAR(255)
);

-- The delivery task's claim: pending rows in due order.
CREATE INDEX mail_outbox_pending_idx ON mail_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;
