-- One watcher per job: the replica that holds a job's lease (watch_owner until watch_until)
-- reads its status, next when next_poll_at has come (NULL: at once).
ALTER TABLE jobs ADD COLUMN watch_owner  TEXT;        -- NULL: nobody
ALTER TABLE jobs ADD COLUMN watch_until  TIMESTAMPTZ; -- NULL: no lease
ALTER TABLE jobs ADD COLUMN next_poll_at TIMESTAMPTZ; -- NULL: due
CREATE INDEX jobs_watch ON jobs (status, next_poll_at);
