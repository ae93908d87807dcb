-- Per-org invoke rate limit, requests per minute; 0: the deployment default applies.
ALTER TABLE orgs ADD COLUMN rate_limit_per_minute INTEGER NOT NULL DEFAULT 0;
