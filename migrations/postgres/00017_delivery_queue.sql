-- +goose Up
-- The delivery worker's state of each relay_queue entry: the River job that
-- sends it (one job per message and destination domain), when it was last
-- tried, the remote's last answer (for the bounce) and whether the sender
-- was told of the delay.
ALTER TABLE relay_queue ADD COLUMN job_id BIGINT;
ALTER TABLE relay_queue ADD COLUMN last_attempt_at TIMESTAMPTZ;
ALTER TABLE relay_queue ADD COLUMN remote_mta TEXT NOT NULL DEFAULT '';
ALTER TABLE relay_queue ADD COLUMN status TEXT NOT NULL DEFAULT '';
ALTER TABLE relay_queue ADD COLUMN delay_notified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE relay_queue ADD COLUMN done_at TIMESTAMPTZ;
CREATE INDEX relay_queue_state_created ON relay_queue (state, created_at);

-- +goose Down
DROP INDEX relay_queue_state_created;
ALTER TABLE relay_queue DROP COLUMN done_at;
ALTER TABLE relay_queue DROP COLUMN delay_notified;
ALTER TABLE relay_queue DROP COLUMN status;
ALTER TABLE relay_queue DROP COLUMN remote_mta;
ALTER TABLE relay_queue DROP COLUMN last_attempt_at;
ALTER TABLE relay_queue DROP COLUMN job_id;
