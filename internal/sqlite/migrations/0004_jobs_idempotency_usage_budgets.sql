-- Account actions and the Idempotency-Key requirement, per service and org; NULL: inherit.
ALTER TABLE service_settings ADD COLUMN account_actions TEXT;            -- "allow" or "refuse"
ALTER TABLE service_settings ADD COLUMN require_idempotency_key INTEGER; -- boolean

-- Objects an org created upstream (videos, dubbings, voices, assets): on a shared provider
-- account each org reaches only its own. Status columns are filled as the job is watched.
CREATE TABLE jobs (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id          INTEGER NOT NULL,
	service         TEXT    NOT NULL,
	action          TEXT    NOT NULL,
	upstream_id     TEXT    NOT NULL,
	source          TEXT    NOT NULL,
	request_id      TEXT    NOT NULL,
	key_prefix      TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	status          TEXT    NOT NULL DEFAULT '',
	provider_status TEXT    NOT NULL DEFAULT '',
	result          TEXT    NOT NULL DEFAULT '', -- JSON, kept as sent; '': none
	error           TEXT    NOT NULL DEFAULT '', -- JSON, kept as sent; '': none
	updated_at      INTEGER,                     -- NULL until first seen
	UNIQUE (service, upstream_id)
);
CREATE INDEX jobs_org_id_id ON jobs (org_id, id);
CREATE INDEX jobs_org_id_service_status ON jobs (org_id, service, status);

-- One Idempotency-Key of one org: the request's fingerprint and, once finished, its answer.
CREATE TABLE idempotency_keys (
	org_id       INTEGER NOT NULL,
	key          TEXT    NOT NULL,
	fingerprint  TEXT    NOT NULL,
	state        TEXT    NOT NULL,
	status       INTEGER NOT NULL DEFAULT 0,
	content_type TEXT    NOT NULL DEFAULT '',
	body         BLOB    NOT NULL DEFAULT x'',
	body_kept    INTEGER NOT NULL DEFAULT 0,
	request_id   TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER,                        -- NULL: never
	lease_until  INTEGER,                        -- NULL: none
	PRIMARY KEY (org_id, key)
);

-- Usage per day (UTC) of (org, service, action, source), added to as invokes happen.
CREATE TABLE usage_daily (
	org_id         INTEGER NOT NULL,
	service        TEXT    NOT NULL,
	action         TEXT    NOT NULL,
	source         TEXT    NOT NULL,
	day            TEXT    NOT NULL, -- 2006-01-02
	calls          INTEGER NOT NULL DEFAULT 0,
	billable_calls INTEGER NOT NULL DEFAULT 0,
	failed_calls   INTEGER NOT NULL DEFAULT 0,
	refused        INTEGER NOT NULL DEFAULT 0,
	replayed       INTEGER NOT NULL DEFAULT 0,
	requests       INTEGER NOT NULL DEFAULT 0,
	characters     INTEGER NOT NULL DEFAULT 0,
	seconds        INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (org_id, service, action, source, day)
);
CREATE INDEX usage_daily_day ON usage_daily (day, org_id);

-- Budgets: what an org may spend on one service per period (configuration: bumps the
-- version).
CREATE TABLE budgets (
	org_id     INTEGER NOT NULL,
	service    TEXT    NOT NULL,
	period     TEXT    NOT NULL,             -- "day" or "month"
	limits     TEXT    NOT NULL DEFAULT '{}', -- JSON object, unit → limit
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (org_id, service)
);

-- What each budget window has used, per unit ("window" is an SQL keyword: window_start,
-- the period's start, e.g. "2026-12" or "2026-12-02").
CREATE TABLE budget_counters (
	org_id       INTEGER NOT NULL,
	service      TEXT    NOT NULL,
	window_start TEXT    NOT NULL,
	unit         TEXT    NOT NULL,
	used         INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (org_id, service, window_start, unit)
);

-- Units taken from a window for a request in flight, until committed or released.
CREATE TABLE budget_reservations (
	id           TEXT    PRIMARY KEY,
	org_id       INTEGER NOT NULL,
	service      TEXT    NOT NULL,
	window_start TEXT    NOT NULL,
	units        TEXT    NOT NULL, -- JSON object, unit → count
	expires_at   INTEGER NOT NULL
);
CREATE INDEX budget_reservations_expires_at ON budget_reservations (expires_at);
