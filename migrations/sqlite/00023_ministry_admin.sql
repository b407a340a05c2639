-- +goose Up
-- The role ministry_admin: the administrator of one ministry's users,
-- departments, registries and aliases (internal/directory/ministry_admin.go).
-- SQLite changes a CHECK only by building the table again, with its index
-- and the triggers of org_state (00008).
CREATE TABLE user_roles_new (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('admin', 'clerk', 'head', 'staff', 'ministry_admin')),
    PRIMARY KEY (user_id, role)
);
INSERT INTO user_roles_new (user_id, role) SELECT user_id, role FROM user_roles;
DROP TABLE user_roles;
ALTER TABLE user_roles_new RENAME TO user_roles;
CREATE INDEX user_roles_role ON user_roles (role, user_id);
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

-- +goose Down
DELETE FROM user_roles WHERE role = 'ministry_admin';
CREATE TABLE user_roles_new (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('admin', 'clerk', 'head', 'staff')),
    PRIMARY KEY (user_id, role)
);
INSERT INTO user_roles_new (user_id, role) SELECT user_id, role FROM user_roles;
DROP TABLE user_roles;
ALTER TABLE user_roles_new RENAME TO user_roles;
CREATE INDEX user_roles_role ON user_roles (role, user_id);
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
