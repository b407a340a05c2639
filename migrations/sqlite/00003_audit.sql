-- +goose Up
-- Append-only audit log (DESIGN.md §4a). Writers insert id, created_at,
-- actor, action, target and details in the transaction of the change they
-- record; the linker fills seq, prev_hash, hash and linked_at after commit.
-- details is the canonical JSON text exactly as hashed.
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TIMESTAMP NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    details    TEXT NOT NULL DEFAULT '{}',
    seq        INTEGER,
    prev_hash  TEXT,
    hash       TEXT,
    linked_at  TIMESTAMP
);
CREATE UNIQUE INDEX audit_events_seq ON audit_events (seq);
CREATE INDEX audit_events_unlinked ON audit_events (id) WHERE seq IS NULL;
CREATE INDEX audit_events_created ON audit_events (created_at);
CREATE INDEX audit_events_action_created ON audit_events (action, created_at);
CREATE INDEX audit_events_actor_created ON audit_events (actor, created_at);
