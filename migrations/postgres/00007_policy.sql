-- +goose Up
-- The national-mail-only policy (internal/policy), aliases (internal/directory)
-- and the queue of submitted mail waiting to be relayed to other national
-- servers (internal/smtp records it; the delivery worker sends it).

-- policy_rules: administrators' allow and deny rules. pattern is canonical
-- (CanonicalDomain, Unicode, lower case, no trailing dot): "gov.sy" names
-- that exact domain, ".gov.sy" the domain and every subdomain.
CREATE TABLE policy_rules (
    id         BIGSERIAL PRIMARY KEY,
    pattern    TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('allow', 'deny')),
    note       TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX policy_rules_pattern ON policy_rules (pattern);

-- policy_state: one row whose version every rule change increments in its
-- own transaction; each process polls it (one cheap read a second) and
-- reloads the rules when it moved.
CREATE TABLE policy_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO policy_state (id, version) VALUES (1, 0);

-- aliases: an address on a hosted domain that delivers to one or more
-- users (alias_targets). An alias address is never also a user's login.
-- postmaster@ every hosted domain exists without a row here; a row for it
-- sends it on to its targets.
CREATE TABLE aliases (
    id         BIGSERIAL PRIMARY KEY,
    address    TEXT NOT NULL,              -- canonical address
    domain_id  BIGINT NOT NULL REFERENCES domains (id),
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX aliases_address ON aliases (address);
CREATE INDEX aliases_domain ON aliases (domain_id);

CREATE TABLE alias_targets (
    alias_id BIGINT NOT NULL REFERENCES aliases (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (alias_id, user_id)
);
CREATE INDEX alias_targets_user ON alias_targets (user_id);

-- relay_queue: one row per recipient on another national server, written
-- when submission accepted the message (its raw bytes are the blob
-- blob_key). state: pending until the delivery worker sent it or gave up.
CREATE TABLE relay_queue (
    id              BIGSERIAL PRIMARY KEY,
    created_at      TIMESTAMPTZ NOT NULL,
    user_id         BIGINT REFERENCES users (id) ON DELETE SET NULL,
    mail_from       TEXT NOT NULL,         -- '' for the null sender
    rcpt_to         TEXT NOT NULL,         -- canonical address
    domain          TEXT NOT NULL,         -- canonical domain of rcpt_to
    blob_key        TEXT NOT NULL,
    size            BIGINT NOT NULL,
    smtputf8        BOOLEAN NOT NULL DEFAULT FALSE,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX relay_queue_due ON relay_queue (state, next_attempt_at);
CREATE INDEX relay_queue_blob ON relay_queue (blob_key);
