-- +goose Up
-- The timeline (workflow_events) names its correspondence, entry and
-- referral without foreign keys, as the audit log names its targets. Its
-- rows are written only by the engine, in the statement that writes or
-- changes the rows they name, and those rows are never deleted: the keys
-- only cost each letter about a dozen lookups of rows it has just
-- written. SQLite cannot drop a constraint: the table is copied.
CREATE TABLE workflow_events_new (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    correspondence_id INTEGER NOT NULL,
    entry_id          INTEGER,
    referral_id       INTEGER,
    actor             TEXT NOT NULL,
    action            TEXT NOT NULL,
    from_state        TEXT NOT NULL DEFAULT '',
    to_state          TEXT NOT NULL DEFAULT '',
    comment           TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMP NOT NULL
);
INSERT INTO workflow_events_new (id, correspondence_id, entry_id, referral_id, actor, action, from_state, to_state, comment, created_at)
    SELECT id, correspondence_id, entry_id, referral_id, actor, action, from_state, to_state, comment, created_at FROM workflow_events;
DROP TABLE workflow_events;
ALTER TABLE workflow_events_new RENAME TO workflow_events;
CREATE INDEX workflow_events_correspondence ON workflow_events (correspondence_id, id);
