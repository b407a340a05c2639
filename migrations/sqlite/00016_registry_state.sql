-- +goose Up
-- registry_state: one row whose version moves with every change to the
-- registries (their codes, names, ministries), whichever process or tool
-- makes it. The recipient picker (internal/workflow, registry_search.go)
-- keeps the registries' names normalised in memory with the version they
-- were read at, and reads the version again on every search.
CREATE TABLE registry_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO registry_state (id, version) VALUES (1, 0);

-- +goose StatementBegin
CREATE TRIGGER registry_state_insert AFTER INSERT ON registries
BEGIN UPDATE registry_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER registry_state_update AFTER UPDATE ON registries
BEGIN UPDATE registry_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER registry_state_delete AFTER DELETE ON registries
BEGIN UPDATE registry_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
