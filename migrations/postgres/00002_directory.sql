-- +goose Up
-- The directory (internal/directory): ministries, the mail domains hosted
-- for them, user accounts and their roles. Names are stored canonical
-- (domains in Unicode form, lower case; logins as canonical addresses), so
-- plain unique indexes refuse a second spelling of one name.
CREATE TABLE ministries (
    id         BIGSERIAL PRIMARY KEY,
    code       TEXT NOT NULL,
    name_ar    TEXT NOT NULL,
    name_en    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX ministries_code ON ministries (code);

CREATE TABLE domains (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,              -- canonical Unicode form
    ascii_name  TEXT NOT NULL,              -- A-label (xn--) form
    ministry_id BIGINT NOT NULL REFERENCES ministries (id),
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX domains_name ON domains (name);
CREATE UNIQUE INDEX domains_ascii_name ON domains (ascii_name);
CREATE INDEX domains_ministry ON domains (ministry_id);

-- login is the canonical address, or 'admin' for the bootstrap
-- administrator, the one account without a ministry or domain.
CREATE TABLE users (
    id                   BIGSERIAL PRIMARY KEY,
    login                TEXT NOT NULL,
    name                 TEXT NOT NULL,
    ministry_id          BIGINT REFERENCES ministries (id),
    domain_id            BIGINT REFERENCES domains (id),
    disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash        TEXT NOT NULL,     -- argon2id, PHC string format
    failed_logins        INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until         TIMESTAMPTZ,
    quota_bytes          BIGINT NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),  -- 0: unlimited
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    CHECK (login = 'admin' OR (ministry_id IS NOT NULL AND domain_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_login ON users (login);
CREATE INDEX users_ministry ON users (ministry_id);
CREATE INDEX users_domain ON users (domain_id);

CREATE TABLE user_roles (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('admin', 'clerk', 'head', 'staff')),
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_role ON user_roles (role, user_id);
