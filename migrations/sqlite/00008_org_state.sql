-- +goose Up
-- org_state: one row whose version moves with every change to what makes a
-- user's rights in the workflow (internal/workflow, principalQuery): the
-- user's login, ministry and whether they are disabled, their roles,
-- clerkships and membership, the ministries' codes and the department
-- tree with its heads. Each process keeps the rights it has read with the
-- version they were read at, and reads the version again on every call:
-- when it moved, the rights are read again. Triggers move it, so that
-- every change counts, whichever process or tool makes it.
CREATE TABLE org_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO org_state (id, version) VALUES (1, 0);

-- +goose StatementBegin
CREATE TRIGGER org_state_users_update AFTER UPDATE OF login, ministry_id, disabled ON users
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_users_delete AFTER DELETE ON users
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_ministries_update AFTER UPDATE OF code ON ministries
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_ministries_delete AFTER DELETE ON ministries
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_user_roles_insert AFTER INSERT ON user_roles
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_user_roles_update AFTER UPDATE ON user_roles
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_user_roles_delete AFTER DELETE ON user_roles
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_registry_clerks_insert AFTER INSERT ON registry_clerks
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_registry_clerks_update AFTER UPDATE ON registry_clerks
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_registry_clerks_delete AFTER DELETE ON registry_clerks
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_memberships_insert AFTER INSERT ON memberships
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_memberships_update AFTER UPDATE ON memberships
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_memberships_delete AFTER DELETE ON memberships
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_departments_insert AFTER INSERT ON departments
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_departments_update AFTER UPDATE OF parent_id, head_user_id ON departments
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_departments_delete AFTER DELETE ON departments
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
