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

-- The counters of the web UI's navigation (workflow.Counters): a user's
-- open referrals and the overdue ones, and a registry's open incoming
-- entries past their due date, each an index range however long the
-- history.
CREATE INDEX referrals_to_user_state ON referrals (to_user_id, state, due_date);
CREATE INDEX referrals_to_department_state ON referrals (to_department_id, state, due_date);
CREATE INDEX registry_entries_registry_state_due ON registry_entries (registry_id, state, due_date);
