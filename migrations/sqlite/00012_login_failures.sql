-- +goose Up
-- Failed logins counted per account and client address (IPv4 address or
-- IPv6 /64), so that one address guessing at an account locks out only
-- itself: when failures reach auth.lockout_threshold within
-- auth.lockout_duration the pair is refused until locked_until, and the
-- account locks for everyone (users.locked_until) only once
-- auth.lockout_addresses distinct addresses are refused at once. Kept in
-- the database so that every node sees the same pairs and the same lock.
CREATE TABLE login_failures (
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address      TEXT NOT NULL,
    failures     INTEGER NOT NULL CHECK (failures > 0),
    first_at     TIMESTAMP NOT NULL,  -- start of the counting window
    locked_until TIMESTAMP,           -- the pair is refused until then
    PRIMARY KEY (user_id, address)
);
CREATE INDEX login_failures_locked ON login_failures (user_id, locked_until);
