-- +goose Up
-- Each audit event is sealed at insert by its writer: row_mac is an
-- HMAC-SHA256 under a key derived from the master key (never stored here)
-- with a random nonce, so that the linker can refuse rows the server did
-- not write (internal/audit/seal.go). Rows written before this version have
-- none: the server re-keys them once at its first start (audit.rekeyed).
-- The unique index refuses a copy of a sealed row.
ALTER TABLE audit_events ADD COLUMN row_mac TEXT;
CREATE UNIQUE INDEX audit_events_row_mac ON audit_events (row_mac);
