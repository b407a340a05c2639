-- +goose Up
-- The language a user chose for the web UI ('ar', 'en'); '' when they
-- never chose one (the browser's cookie decides, else Arabic).
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT '' CHECK (language IN ('', 'ar', 'en'));

-- org_state's version also moves when a user must change their password,
-- or no longer must: an API token found valid before (directory.CheckToken)
-- is then checked again, so that the rule of DESIGN.md §3a holds at once.
-- +goose StatementBegin
CREATE TRIGGER org_state_users_must_change AFTER UPDATE OF must_change_password ON users
WHEN OLD.must_change_password <> NEW.must_change_password
BEGIN UPDATE org_state SET version = version + 1 WHERE id = 1; END;
-- +goose StatementEnd
