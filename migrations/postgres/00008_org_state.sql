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

-- The triggers run at commit (deferred constraint triggers), so that the
-- one row is locked only from then to the end of the transaction: two
-- changes of the organisation wait for each other there, never in a cycle
-- with the rows they change.
CREATE CONSTRAINT TRIGGER org_state_users AFTER UPDATE OF login, ministry_id, disabled OR DELETE ON users
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION org_state_bump();
CREATE CONSTRAINT TRIGGER org_state_ministries AFTER UPDATE OF code OR DELETE ON ministries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION org_state_bump();
CREATE CONSTRAINT TRIGGER org_state_user_roles AFTER INSERT OR UPDATE OR DELETE ON user_roles
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION org_state_bump();
CREATE CONSTRAINT TRIGGER org_state_registry_clerks AFTER INSERT OR UPDATE OR DELETE ON registry_clerks
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION org_state_bump();
CREATE CONSTRAINT TRIGGER org_state_memberships AFTER INSERT OR UPDATE OR DELETE ON memberships
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION org_state_bump();
CREATE CONSTRAINT TRIGGER org_state_departments AFTER INSERT OR UPDATE OF parent_id, head_user_id OR DELETE ON departments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION org_state_bump();
