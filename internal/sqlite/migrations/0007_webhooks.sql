-- Outgoing webhooks: where an org is told about its jobs, one per org (its signing secret
-- is a credential of service "webhook-out"). Configuration: bumps the version.
CREATE TABLE org_webhooks (
	org_id     INTEGER PRIMARY KEY,
	url        TEXT    NOT NULL,
	events     TEXT    NOT NULL DEFAULT '[]', -- JSON array of event types
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

-- The outbox: one event to deliver to an org's webhook, added in the transaction that made
-- it happen, kept until delivered or given up on (then purged). seq is the store's order;
-- id ("msg_…") is the webhook-id of every attempt. The replica that holds a delivery's
-- lease (lease_owner until lease_until) makes its next attempt.
CREATE TABLE webhook_deliveries (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	id              TEXT    NOT NULL UNIQUE,
	org_id          INTEGER NOT NULL,
	job_id          INTEGER NOT NULL,
	type            TEXT    NOT NULL,
	payload         TEXT    NOT NULL DEFAULT '', -- JSON body, fixed at the first attempt; '': none yet
	state           TEXT    NOT NULL,            -- pending, delivered, failed
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	last_status     INTEGER NOT NULL DEFAULT 0,  -- 0: no answer
	last_error      TEXT    NOT NULL DEFAULT '',
	lease_owner     TEXT,                        -- NULL: nobody
	lease_until     INTEGER,                     -- NULL: no lease
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_org_id_seq ON webhook_deliveries (org_id, seq);

-- Every attempt at a delivery, numbered from 1.
CREATE TABLE webhook_attempts (
	delivery_id TEXT    NOT NULL,
	n           INTEGER NOT NULL,
	at          INTEGER NOT NULL,
	status      INTEGER NOT NULL DEFAULT 0,  -- 0: no answer
	error       TEXT    NOT NULL DEFAULT '', -- '': delivered
	duration_ns INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (delivery_id, n)
);

-- Incoming webhook events already seen (an event id, or a hash of the body), per service:
-- a provider's retry of one event is acted on once.
CREATE TABLE webhook_events_seen (
	service TEXT    NOT NULL,
	key     TEXT    NOT NULL,
	seen_at INTEGER NOT NULL,
	PRIMARY KEY (service, key)
);
CREATE INDEX webhook_events_seen_seen_at ON webhook_events_seen (seen_at);
