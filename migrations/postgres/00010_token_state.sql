-- +goose Up
-- org_state's version also moves when an API token is revoked (deleted) or
-- changed. An engine that has checked a token in a call
-- (workflow.Credential) keeps the check while the version has not moved,
-- as it keeps the user's rights: the check reads api_tokens and the
-- user's disabled flag, and both now move the version. Creating a token
-- does not: no process keeps a check of a token it has not seen.
CREATE CONSTRAINT TRIGGER org_state_api_tokens AFTER UPDATE OF token_hash, user_id OR DELETE ON api_tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION org_state_bump();
