-- +goose Up
-- The role ministry_admin: the administrator of one ministry's users,
-- departments, registries and aliases (internal/directory/ministry_admin.go).
ALTER TABLE user_roles DROP CONSTRAINT user_roles_role_check;
ALTER TABLE user_roles ADD CONSTRAINT user_roles_role_check
    CHECK (role IN ('admin', 'clerk', 'head', 'staff', 'ministry_admin'));

-- +goose Down
DELETE FROM user_roles WHERE role = 'ministry_admin';
ALTER TABLE user_roles DROP CONSTRAINT user_roles_role_check;
ALTER TABLE user_roles ADD CONSTRAINT user_roles_role_check
    CHECK (role IN ('admin', 'clerk', 'head', 'staff'));
