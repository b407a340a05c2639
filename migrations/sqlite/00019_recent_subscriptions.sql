-- +goose Up
-- first_recent_uid: the lowest UID of the mailbox that no session has
-- taken as \Recent yet (RFC 3501 §2.3.2). A read-write SELECT, or a session
-- that is told of new messages, takes every UID from here up to what it
-- sees and moves the mark past them, in one transaction: one session at a
-- time owns a message's \Recent flag, on every node sharing the database,
-- as Dovecot keeps it in its index. Existing mailboxes start with nothing
-- recent.
ALTER TABLE mailboxes ADD COLUMN first_recent_uid INTEGER NOT NULL DEFAULT 1;
UPDATE mailboxes SET first_recent_uid = uid_next;

