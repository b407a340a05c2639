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
    version BIGINT NOT NULL
);
INSERT INTO org_state (id, version) VALUES (1, 0);

-- +goose StatementBegin
CREATE FUNCTION org_state_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE org_state SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER org_state_users AFTER UPDATE OF login, ministry_id, disabled OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION org_state_bump();
CREATE TRIGGER org_state_ministries AFTER UPDATE OF code OR DELETE ON ministries
    FOR EACH STATEMENT EXECUTE FUNCTION org_state_bump();
CREATE TRIGGER org_state_user_roles AFTER INSERT OR UPDATE OR DELETE ON user_roles
    FOR EACH STATEMENT EXECUTE FUNCTION org_state_bump();
CREATE TRIGGER org_state_registry_clerks AFTER INSERT OR UPDATE OR DELETE ON registry_clerks
    FOR EACH STATEMENT EXECUTE FUNCTION org_state_bump();
CREATE TRIGGER org_state_memberships AFTER INSERT OR UPDATE OR DELETE ON memberships
    FOR EACH STATEMENT EXECUTE FUNCTION org_state_bump();
CREATE TRIGGER org_state_departments AFTER INSERT OR UPDATE OF parent_id, head_user_id OR DELETE ON departments
    FOR EACH STATEMENT EXECUTE FUNCTION org_state_bump();
