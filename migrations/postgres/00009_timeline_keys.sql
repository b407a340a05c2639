-- +goose Up
-- The timeline (workflow_events) names its correspondence, entry and
-- referral without foreign keys, as the audit log names its targets. Its
-- rows are written only by the engine, in the statement that writes or
-- changes the rows they name, and those rows are never deleted: the keys
-- only cost each letter about a dozen lookups of rows it has just
-- written.
ALTER TABLE workflow_events
    DROP CONSTRAINT workflow_events_correspondence_id_fkey,
    DROP CONSTRAINT workflow_events_entry_id_fkey,
    DROP CONSTRAINT workflow_events_referral_id_fkey;
