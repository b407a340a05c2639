-- +goose Up
-- due_date_given: the sender gave the letter's due date (a change of
-- priority keeps it); otherwise it is the default for the priority and
-- moves with it.
ALTER TABLE correspondence ADD COLUMN due_date_given BOOLEAN NOT NULL DEFAULT FALSE;
-- What an incoming entry's register records of the sender when the letter
-- is dispatched to it: the sender's outgoing number and registration time,
-- and the date the sender asked a reply by (the entry's own due_date is
-- counted from receipt by the recipient's rules).
ALTER TABLE registry_entries ADD COLUMN sender_number TEXT NOT NULL DEFAULT '';
ALTER TABLE registry_entries ADD COLUMN sender_registered_at TIMESTAMPTZ;
ALTER TABLE registry_entries ADD COLUMN reply_requested_by TEXT NOT NULL DEFAULT '';
