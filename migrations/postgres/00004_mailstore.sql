-- +goose Up
-- The mail store (internal/mailstore). Times are Unix seconds (BIGINT), so
-- date searches compare numbers on both dialects.
--
-- mail_users: one row per user with mail, created on first use; used_bytes
-- is the sum of the sizes of the user's messages (each mailbox copy counts),
-- updated in the transaction of every change and checked against
-- users.quota_bytes there.
CREATE TABLE mail_users (
    user_id    BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    used_bytes BIGINT NOT NULL DEFAULT 0 CHECK (used_bytes >= 0)
);

-- mailboxes: IMAP state per mailbox. uid_validity is the row's id (ids are
-- never reused), so a mailbox deleted and created again under the same name
-- gets a new UIDVALIDITY. messages and size are counters kept in step with
-- mailbox_messages; keywords lists every keyword ever set (" a b ").
CREATE TABLE mailboxes (
    id             BIGSERIAL PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    special_use    TEXT NOT NULL DEFAULT '',
    subscribed     BOOLEAN NOT NULL DEFAULT FALSE,
    uid_validity   BIGINT NOT NULL DEFAULT 0,
    uid_next       BIGINT NOT NULL DEFAULT 1 CHECK (uid_next >= 1),
    highest_modseq BIGINT NOT NULL DEFAULT 1,
    messages       BIGINT NOT NULL DEFAULT 0 CHECK (messages >= 0),
    size           BIGINT NOT NULL DEFAULT 0 CHECK (size >= 0),
    keywords       TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX mailboxes_user_name ON mailboxes (user_id, name);

-- messages: one row per distinct raw message (blob_key is derived from its
-- SHA-256), however many mailboxes hold it; refs counts the
-- mailbox_messages rows. When refs drops to 0, orphaned_at is set and the
-- sweep deletes blob and row once the grace period has passed; deleting
-- marks a row whose blob the sweep is removing (see sweep.go).
CREATE TABLE messages (
    id             BIGSERIAL PRIMARY KEY,
    blob_key       TEXT NOT NULL,
    size           BIGINT NOT NULL,
    header_size    BIGINT NOT NULL,
    sent_date      BIGINT,
    envelope       TEXT NOT NULL,
    structure      TEXT NOT NULL,
    search_subject TEXT NOT NULL DEFAULT '',
    search_from    TEXT NOT NULL DEFAULT '',
    search_to      TEXT NOT NULL DEFAULT '',
    search_cc      TEXT NOT NULL DEFAULT '',
    search_bcc     TEXT NOT NULL DEFAULT '',
    search_header  TEXT NOT NULL DEFAULT '',
    search_text    TEXT NOT NULL DEFAULT '',
    refs           BIGINT NOT NULL DEFAULT 0 CHECK (refs >= 0),
    orphaned_at    BIGINT,
    deleting       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX messages_blob_key ON messages (blob_key);
CREATE INDEX messages_orphaned ON messages (orphaned_at) WHERE refs = 0;

-- mailbox_messages: a message in a mailbox. user_id repeats the mailbox's
-- owner so that every query is scoped by user without a join.
CREATE TABLE mailbox_messages (
    mailbox_id    BIGINT NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    uid           BIGINT NOT NULL,
    user_id       BIGINT NOT NULL,
    message_id    BIGINT NOT NULL REFERENCES messages (id),
    modseq        BIGINT NOT NULL,
    seen          BOOLEAN NOT NULL DEFAULT FALSE,
    answered      BOOLEAN NOT NULL DEFAULT FALSE,
    flagged       BOOLEAN NOT NULL DEFAULT FALSE,
    deleted       BOOLEAN NOT NULL DEFAULT FALSE,
    draft         BOOLEAN NOT NULL DEFAULT FALSE,
    keywords      TEXT NOT NULL DEFAULT '',
    internal_date BIGINT NOT NULL,
    size          BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX mailbox_messages_message ON mailbox_messages (message_id);
CREATE INDEX mailbox_messages_unseen ON mailbox_messages (mailbox_id, uid) WHERE NOT seen;
CREATE INDEX mailbox_messages_deleted ON mailbox_messages (mailbox_id, uid) WHERE deleted;
