-- The users table of the contract (CONTRACT.md, "Users table"), SQLite flavour.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username VARCHAR(128) NOT NULL,
    email VARCHAR(128) NOT NULL,
    password VARCHAR(255) NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Named like PostgreSQL's constraints; users-db reads the column from the error.
CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- Newest-first keyset paging: ORDER BY created_at DESC, id DESC.
CREATE INDEX users_created_at_id_idx ON users (created_at DESC, id DESC);
