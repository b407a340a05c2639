-- +goose Up
-- The correspondence workflow (internal/workflow): registries and
-- departments, who works where, correspondence with its recipients,
-- references and attachments, the entry each registry keeps of it, register
-- counters, referrals and the timeline.

-- A registry (ديوان) of a ministry. template formats register numbers.
CREATE TABLE registries (
    id                BIGSERIAL PRIMARY KEY,
    code              TEXT NOT NULL,
    ministry_id       BIGINT NOT NULL REFERENCES ministries (id),
    name_ar           TEXT NOT NULL,
    name_en           TEXT NOT NULL,
    address           TEXT NOT NULL,        -- canonical address on a domain of the ministry
    template          TEXT NOT NULL,
    approval_required BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX registries_code ON registries (code);
CREATE UNIQUE INDEX registries_address ON registries (address);
CREATE INDEX registries_ministry ON registries (ministry_id);

-- Departments form a tree inside a ministry; codes are unique per ministry.
CREATE TABLE departments (
    id           BIGSERIAL PRIMARY KEY,
    ministry_id  BIGINT NOT NULL REFERENCES ministries (id),
    code         TEXT NOT NULL,
    name_ar      TEXT NOT NULL,
    name_en      TEXT NOT NULL,
    parent_id    BIGINT REFERENCES departments (id),
    head_user_id BIGINT REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX departments_code ON departments (ministry_id, code);
CREATE INDEX departments_parent ON departments (parent_id);
CREATE INDEX departments_head ON departments (head_user_id);

-- Clerks of registries.
CREATE TABLE registry_clerks (
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    registry_id BIGINT NOT NULL REFERENCES registries (id),
    PRIMARY KEY (user_id, registry_id)
);
CREATE INDEX registry_clerks_registry ON registry_clerks (registry_id);

-- A user's department and clearance.
CREATE TABLE memberships (
    user_id       BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    department_id BIGINT REFERENCES departments (id),
    clearance     TEXT NOT NULL DEFAULT 'normal' CHECK (clearance IN ('normal', 'confidential', 'secret'))
);
CREATE INDEX memberships_department ON memberships (department_id);

-- The document. It changes only while frozen_at is NULL.
CREATE TABLE correspondence (
    id                 BIGSERIAL PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('letter', 'memo', 'circular')),
    subject            TEXT NOT NULL,
    body               TEXT NOT NULL,
    classification     TEXT NOT NULL CHECK (classification IN ('normal', 'confidential', 'secret')),
    priority           TEXT NOT NULL CHECK (priority IN ('normal', 'urgent', 'immediate')),
    sender_registry_id BIGINT REFERENCES registries (id),
    sender_party       TEXT NOT NULL DEFAULT '',
    department_id      BIGINT REFERENCES departments (id),
    due_date           TEXT NOT NULL DEFAULT '',   -- YYYY-MM-DD in time_zone, '' none
    created_by         BIGINT REFERENCES users (id),
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    frozen_at          TIMESTAMPTZ,
    document_sha256    TEXT NOT NULL DEFAULT '',
    CHECK (sender_registry_id IS NOT NULL OR sender_party <> '')
);
CREATE INDEX correspondence_created_by ON correspondence (created_by);
CREATE INDEX correspondence_department ON correspondence (department_id);

CREATE TABLE correspondence_recipients (
    id                BIGSERIAL PRIMARY KEY,
    correspondence_id BIGINT NOT NULL REFERENCES correspondence (id),
    position          INTEGER NOT NULL,
    registry_id       BIGINT REFERENCES registries (id),
    party             TEXT NOT NULL DEFAULT '',
    role              TEXT NOT NULL CHECK (role IN ('to', 'cc')),
    state             TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'acknowledged', 'returned', 'recalled')),
    entry_id          BIGINT,                  -- their incoming entry, once delivered
    number            TEXT NOT NULL DEFAULT '', -- their number from a receipt, when no entry here holds it
    reason            TEXT NOT NULL DEFAULT '',
    changed_at        TIMESTAMPTZ,
    CHECK ((registry_id IS NULL) <> (party = ''))
);
CREATE UNIQUE INDEX correspondence_recipients_position ON correspondence_recipients (correspondence_id, position);
CREATE INDEX correspondence_recipients_entry ON correspondence_recipients (entry_id);

CREATE TABLE correspondence_references (
    correspondence_id BIGINT NOT NULL REFERENCES correspondence (id),
    referenced_id     BIGINT NOT NULL REFERENCES correspondence (id),
    relation          TEXT NOT NULL CHECK (relation IN ('reply_to', 'related')),
    PRIMARY KEY (correspondence_id, referenced_id)
);
CREATE INDEX correspondence_references_referenced ON correspondence_references (referenced_id);

-- A registry's entry of a correspondence. year and seq are set at
-- registration and never change; the unique index keeps them unique per
-- registry, direction and year.
CREATE TABLE registry_entries (
    id                BIGSERIAL PRIMARY KEY,
    correspondence_id BIGINT NOT NULL REFERENCES correspondence (id),
    registry_id       BIGINT NOT NULL REFERENCES registries (id),
    direction         TEXT NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
    state             TEXT NOT NULL CHECK (state IN ('draft', 'in_approval', 'approved', 'registered', 'dispatched',
                          'closed', 'recalled', 'cancelled', 'received', 'referred', 'in_progress', 'answered', 'returned')),
    version           BIGINT NOT NULL DEFAULT 1,
    year              INTEGER,
    seq               BIGINT,
    number            TEXT,
    registered_at     TIMESTAMPTZ,
    due_date          TEXT NOT NULL DEFAULT '',
    reason            TEXT NOT NULL DEFAULT '',
    answered_by       BIGINT REFERENCES correspondence (id),
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    CHECK ((year IS NULL) = (seq IS NULL) AND (seq IS NULL) = (number IS NULL))
);
CREATE UNIQUE INDEX registry_entries_register ON registry_entries (registry_id, direction, year, seq);
CREATE UNIQUE INDEX registry_entries_correspondence ON registry_entries (correspondence_id, registry_id, direction);
CREATE INDEX registry_entries_registry_state ON registry_entries (registry_id, state, id);

-- The last number handed out per registry, direction and year. Incremented
-- in the transaction that registers the entry, so a rollback returns it.
CREATE TABLE register_counters (
    registry_id BIGINT NOT NULL REFERENCES registries (id),
    direction   TEXT NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
    year        INTEGER NOT NULL,
    last_seq    BIGINT NOT NULL CHECK (last_seq > 0),
    PRIMARY KEY (registry_id, direction, year)
);

CREATE TABLE referrals (
    id               BIGSERIAL PRIMARY KEY,
    entry_id         BIGINT NOT NULL REFERENCES registry_entries (id),
    parent_id        BIGINT REFERENCES referrals (id),
    from_user_id     BIGINT REFERENCES users (id),
    to_user_id       BIGINT REFERENCES users (id),
    to_department_id BIGINT REFERENCES departments (id),
    instruction      TEXT NOT NULL,
    due_date         TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL CHECK (state IN ('open', 'accepted', 'referred', 'answered', 'closed')),
    version          BIGINT NOT NULL DEFAULT 1,
    answer           TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    CHECK ((to_user_id IS NULL) <> (to_department_id IS NULL))
);
CREATE INDEX referrals_entry ON referrals (entry_id);
CREATE INDEX referrals_to_user ON referrals (to_user_id, id);
CREATE INDEX referrals_to_department ON referrals (to_department_id, id);
CREATE INDEX referrals_from_user ON referrals (from_user_id, id);

-- The timeline: every change, with the entry (and referral) it concerns.
-- The audit log records the same changes; this table is for display.
CREATE TABLE workflow_events (
    id                BIGSERIAL PRIMARY KEY,
    correspondence_id BIGINT NOT NULL REFERENCES correspondence (id),
    entry_id          BIGINT REFERENCES registry_entries (id),
    referral_id       BIGINT REFERENCES referrals (id),
    actor             TEXT NOT NULL,
    action            TEXT NOT NULL,
    from_state        TEXT NOT NULL DEFAULT '',
    to_state          TEXT NOT NULL DEFAULT '',
    comment           TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX workflow_events_correspondence ON workflow_events (correspondence_id, id);

CREATE TABLE correspondence_attachments (
    id                BIGSERIAL PRIMARY KEY,
    correspondence_id BIGINT NOT NULL REFERENCES correspondence (id),
    name              TEXT NOT NULL,
    content_type      TEXT NOT NULL,
    size              BIGINT NOT NULL CHECK (size >= 0),
    sha256            TEXT NOT NULL,
    blob_key          TEXT NOT NULL,
    created_by        BIGINT REFERENCES users (id),
    created_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX correspondence_attachments_correspondence ON correspondence_attachments (correspondence_id, id);
CREATE UNIQUE INDEX correspondence_attachments_blob_key ON correspondence_attachments (blob_key);

-- Blobs that may be orphans: an upload in progress (its row is removed when
-- the attachment commits) or the blob of a deleted attachment. The sweeper
-- deletes the blob and the row once since is old enough.
CREATE TABLE correspondence_blobs_pending (
    blob_key TEXT PRIMARY KEY,
    since    TIMESTAMPTZ NOT NULL
);
CREATE INDEX correspondence_blobs_pending_since ON correspondence_blobs_pending (since);
