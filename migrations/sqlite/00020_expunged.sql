-- +goose Up
-- mailbox_expunged: the UIDs expunged from a mailbox with the MODSEQ of
-- the expunge, so that a client resynchronising with QRESYNC (RFC 7162)
-- learns which of the messages it knew are gone (VANISHED (EARLIER)).
-- Rows older than the retention are pruned by the mail store's sweep,
-- which raises the mailbox's expunged_floor to the highest MODSEQ pruned:
-- below it the table is incomplete, and a client that knew only an older
-- state gets every UID it may know that no longer exists. Existing
-- mailboxes start with the floor at their HIGHESTMODSEQ (nothing expunged
-- earlier is recorded).
CREATE TABLE mailbox_expunged (
    mailbox_id  INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    uid         INTEGER NOT NULL,
    modseq      INTEGER NOT NULL,
    expunged_at INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX mailbox_expunged_modseq ON mailbox_expunged (mailbox_id, modseq);
CREATE INDEX mailbox_expunged_at ON mailbox_expunged (expunged_at);

ALTER TABLE mailboxes ADD COLUMN expunged_floor INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET expunged_floor = highest_modseq;

-- CHANGEDSINCE and QRESYNC read the messages changed since a MODSEQ
-- without walking the mailbox. Partial (every MODSEQ is above 0), so that
-- only a query that says "modseq > 0" can use it: without statistics
-- SQLite's planner took it for the counts of SELECT and STATUS (mailbox_id
-- = ? AND NOT seen) in place of their own partial indexes.
CREATE INDEX mailbox_messages_modseq ON mailbox_messages (mailbox_id, modseq) WHERE modseq > 0;

