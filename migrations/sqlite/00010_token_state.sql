-- +goose Up
-- org_state's version also moves when an API token is revoked (deleted) or
-- changed. An engine that has checked a token in a call
-- (workflow.Credential) keeps the check while the version has not moved,
-- as it keeps the user's rights: the check reads api_tokens and the
-- user's disabled flag, and both now move the version. Creating a token
-- does not: no process keeps a check of a token it has not seen.
-- +goose StatementBegin
CREATE TRIGGER org_state_api_tokens_update AFTER UPDATE OF token_hash, user_id ON api_tokens
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER org_state_api_tokens_delete AFTER DELETE ON api_tokens
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
