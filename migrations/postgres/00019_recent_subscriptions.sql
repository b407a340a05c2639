-- +goose Up
-- first_recent_uid: the lowest UID of the mailbox that no session has
-- taken as \Recent yet (RFC 3501 §2.3.2). A read-write SELECT, or a session
-- that is told of new messages, takes every UID from here up to what it
-- sees and moves the mark past them, in one transaction: one session at a
-- time owns a message's \Recent flag, on every node sharing the database,
-- as Dovecot keeps it in its index. Existing mailboxes start with nothing
-- recent.
ALTER TABLE mailboxes ADD COLUMN first_recent_uid BIGINT NOT NULL DEFAULT 1;
UPDATE mailboxes SET first_recent_uid = uid_next;


-- mailbox_subscriptions: subscriptions to names that are not mailboxes
-- (RFC 3501 §6.3.6: SUBSCRIBE may name a mailbox that does not exist, and
-- DELETE does not remove the subscription, which LIST (SUBSCRIBED) then
-- shows as \NonExistent, RFC 5258 §3.1). A mailbox created under such a
-- name takes the subscription back into mailboxes.subscribed.
CREATE TABLE mailbox_subscriptions (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
);
