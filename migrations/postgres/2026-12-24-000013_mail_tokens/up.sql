-- Part C: the single-use tokens that mail links carry, stored only as a hash. A new token
-- of a purpose replaces the user's unused ones of that purpose (users-db deletes them).
CREATE TABLE mail_tokens (
    -- Hex SHA-256 of the token; the token itself is never stored.
    token_hash VARCHAR(64) PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- `verify`, `change` or `reset`.
    purpose VARCHAR(16) NOT NULL,
    -- The address the link was sent to (the new address for `change`).
    email VARCHAR(128) NOT NULL,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    expires_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    used_at TIMESTAMP WITHOUT TIME ZONE
);
CREATE INDEX mail_tokens_user_purpose_idx ON mail_tokens (user_id, purpose);
CREATE INDEX mail_tokens_expires_at_idx ON mail_tokens (expires_at);

-- The hourly cap counts an account's mails of a purpose; the purge finds finished mails.
CREATE INDEX mail_outbox_user_purpose_idx ON mail_outbox (user_id, purpose, created_at);
CREATE INDEX mail_outbox_finished_idx ON mail_outbox (created_at)
    WHERE sent_at IS NOT NULL OR failed_at IS NOT NULL;
