-- Per-org invoke rate limit, requests per minute; 0: the deployment default applies.
-- A constant default makes this a catalog-only change: no table rewrite, no long lock.
ALTER TABLE orgs ADD COLUMN rate_limit_per_minute INTEGER NOT NULL DEFAULT 0;
