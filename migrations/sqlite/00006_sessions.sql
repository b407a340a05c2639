-- +goose Up
-- Web sessions and personal API tokens (internal/httpd). Only the SHA-256 of
-- a session cookie or an API token is stored (hex), so a copy of these
-- tables logs no one in. Rows go with their user (ON DELETE CASCADE); a
-- disabled user's rows stay but stop working, because every request checks
-- the user.
CREATE TABLE web_sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client     TEXT NOT NULL DEFAULT '',   -- IP address that logged in
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX web_sessions_token ON web_sessions (token_hash);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by TEXT NOT NULL,              -- audit actor that created it
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX api_tokens_token ON api_tokens (token_hash);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
