-- +goose Up
-- dkim_keys (internal/mailauth): the DKIM keys of the hosted domains
-- (RFC 6376; Ed25519 as RFC 8463). domain is the canonical Unicode name, as
-- domains.name. private_key is the PKCS #8 key sealed with AES-256-GCM under
-- a key derived from the master key ("dkim"), the domain and selector as
-- associated data: nonce (12 bytes) then ciphertext. public_key is what the
-- DNS record's p= carries (the SubjectPublicKeyInfo of an RSA key, the 32
-- bytes of an Ed25519 key). retires_at is NULL while the key signs; a
-- rotated key keeps its DNS record until then.
CREATE TABLE dkim_keys (
    id          BIGSERIAL PRIMARY KEY,
    domain      TEXT NOT NULL,
    selector    TEXT NOT NULL,
    algorithm   TEXT NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
    private_key BYTEA NOT NULL,
    public_key  BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    retires_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX dkim_keys_selector ON dkim_keys (domain, selector);
-- One signing key per domain and algorithm: of two nodes generating a
-- domain's first key at once, one insert fails and that node reads the
-- other's key.
CREATE UNIQUE INDEX dkim_keys_active ON dkim_keys (domain, algorithm) WHERE retires_at IS NULL;
