-- +goose Up
-- registry_state: one row whose version moves with every change to the
-- registries (their codes, names, ministries), whichever process or tool
-- makes it. The recipient picker (internal/workflow, registry_search.go)
-- keeps the registries' names normalised in memory with the version they
-- were read at, and reads the version again on every search.
CREATE TABLE registry_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO registry_state (id, version) VALUES (1, 0);

-- +goose StatementBegin
CREATE FUNCTION registry_state_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE registry_state SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- At commit (a deferred constraint trigger), as org_state's: the one row
-- is locked only from then to the end of the transaction.
CREATE CONSTRAINT TRIGGER registry_state_registries AFTER INSERT OR UPDATE OR DELETE ON registries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION registry_state_bump();
