-- Account actions and the Idempotency-Key requirement, per service and org; NULL: inherit.
ALTER TABLE service_settings ADD COLUMN account_actions TEXT;            -- "allow" or "refuse"
ALTER TABLE service_settings ADD COLUMN require_idempotency_key BOOLEAN;

-- Objects an org created upstream (videos, dubbings, voices, assets): on a shared provider
-- account each org reaches only its own. Status columns are filled as the job is watched.
-- result and error are TEXT, not JSONB: the provider's JSON is given back byte for byte,
-- as SQLite does.
CREATE TABLE jobs (
	id              BIGSERIAL   PRIMARY KEY,
	org_id          BIGINT      NOT NULL,
	service         TEXT        NOT NULL,
	action          TEXT        NOT NULL,
	upstream_id     TEXT        NOT NULL,
	source          TEXT        NOT NULL,
	request_id      TEXT        NOT NULL,
	key_prefix      TEXT        NOT NULL,
	created_at      TIMESTAMPTZ NOT NULL,
	status          TEXT        NOT NULL DEFAULT '',
	provider_status TEXT        NOT NULL DEFAULT '',
	result          TEXT        NOT NULL DEFAULT '', -- JSON, kept as sent; '': none
	error           TEXT        NOT NULL DEFAULT '', -- JSON, kept as sent; '': none
	updated_at      TIMESTAMPTZ,                     -- NULL until first seen
	UNIQUE (service, upstream_id)
);
CREATE INDEX jobs_org_id_id ON jobs (org_id, id);
CREATE INDEX jobs_org_id_service_status ON jobs (org_id, service, status);

-- One Idempotency-Key of one org: the request's fingerprint and, once finished, its answer.
CREATE TABLE idempotency_keys (
	org_id       BIGINT      NOT NULL,
	key          TEXT        NOT NULL,
	fingerprint  TEXT        NOT NULL,
	state        TEXT        NOT NULL,
	status       INTEGER     NOT NULL DEFAULT 0,
	content_type TEXT        NOT NULL DEFAULT '',
	body         BYTEA       NOT NULL DEFAULT '',
	body_kept    BOOLEAN     NOT NULL DEFAULT false,
	request_id   TEXT        NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	expires_at   TIMESTAMPTZ,                     -- NULL: never
	lease_until  TIMESTAMPTZ,                     -- NULL: none
	PRIMARY KEY (org_id, key)
);

-- Usage per day (UTC) of (org, service, action, source), added to as invokes happen.
CREATE TABLE usage_daily (
	org_id         BIGINT NOT NULL,
	service        TEXT   NOT NULL,
	action         TEXT   NOT NULL,
	source         TEXT   NOT NULL,
	day            TEXT   NOT NULL, -- 2006-01-02
	calls          BIGINT NOT NULL DEFAULT 0,
	billable_calls BIGINT NOT NULL DEFAULT 0,
	failed_calls   BIGINT NOT NULL DEFAULT 0,
	refused        BIGINT NOT NULL DEFAULT 0,
	replayed       BIGINT NOT NULL DEFAULT 0,
	requests       BIGINT NOT NULL DEFAULT 0,
	characters     BIGINT NOT NULL DEFAULT 0,
	seconds        BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (org_id, service, action, source, day)
);
CREATE INDEX usage_daily_day ON usage_daily (day, org_id);

-- Budgets: what an org may spend on one service per period (configuration: bumps the
-- version).
CREATE TABLE budgets (
	org_id     BIGINT      NOT NULL,
	service    TEXT        NOT NULL,
	period     TEXT        NOT NULL,              -- "day" or "month"
	limits     JSONB       NOT NULL DEFAULT '{}', -- unit → limit
	updated_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (org_id, service)
);

-- What each budget window has used, per unit ("window" is a reserved word: window_start,
-- the period's start, e.g. "2026-12" or "2026-12-02").
CREATE TABLE budget_counters (
	org_id       BIGINT NOT NULL,
	service      TEXT   NOT NULL,
	window_start TEXT   NOT NULL,
	unit         TEXT   NOT NULL,
	used         BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (org_id, service, window_start, unit)
);

-- Units taken from a window for a request in flight, until committed or released.
CREATE TABLE budget_reservations (
	id           TEXT        PRIMARY KEY,
	org_id       BIGINT      NOT NULL,
	service      TEXT        NOT NULL,
	window_start TEXT        NOT NULL,
	units        JSONB       NOT NULL, -- unit → count
	expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX budget_reservations_expires_at ON budget_reservations (expires_at);
