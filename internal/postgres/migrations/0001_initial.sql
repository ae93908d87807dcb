-- Org ids 0 mean "platform" / "operator", so org_id columns carry no foreign key; DeleteOrg
-- removes an org's rows itself.

CREATE TABLE orgs (
	id           BIGSERIAL   PRIMARY KEY,
	slug         TEXT        NOT NULL UNIQUE,
	name         TEXT        NOT NULL,
	cors_origins JSONB       NOT NULL DEFAULT '[]',
	created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
	id           BIGSERIAL   PRIMARY KEY,
	org_id       BIGINT      NOT NULL,
	prefix       TEXT        NOT NULL UNIQUE,
	hash         TEXT        NOT NULL UNIQUE,
	name         TEXT        NOT NULL,
	role         TEXT        NOT NULL,
	scopes       JSONB       NOT NULL DEFAULT '[]',
	parent_id    BIGINT      NOT NULL DEFAULT 0,
	created_at   TIMESTAMPTZ NOT NULL,
	expires_at   TIMESTAMPTZ,
	revoked_at   TIMESTAMPTZ,
	last_used_at TIMESTAMPTZ
);
CREATE INDEX api_keys_org_id ON api_keys (org_id);

CREATE TABLE credentials (
	id          BIGSERIAL   PRIMARY KEY,
	service     TEXT        NOT NULL,
	source      TEXT        NOT NULL,
	org_id      BIGINT      NOT NULL,
	kek_id      TEXT        NOT NULL,
	wrapped_dek BYTEA       NOT NULL,
	ciphertext  BYTEA       NOT NULL,
	fingerprint TEXT        NOT NULL,
	last4       TEXT        NOT NULL,
	created_at  TIMESTAMPTZ NOT NULL,
	updated_at  TIMESTAMPTZ NOT NULL,
	UNIQUE (service, source, org_id)
);
CREATE INDEX credentials_org_id ON credentials (org_id);

CREATE TABLE service_settings (
	id         BIGSERIAL   PRIMARY KEY,
	service    TEXT        NOT NULL,
	org_id     BIGINT      NOT NULL,
	enabled    BOOLEAN,              -- NULL: inherit
	policy     JSONB,                -- aiproxy.Policy; NULL: inherit
	updated_at TIMESTAMPTZ NOT NULL,
	UNIQUE (service, org_id)
);
CREATE INDEX service_settings_org_id ON service_settings (org_id);

CREATE TABLE audit (
	id         BIGSERIAL   PRIMARY KEY,
	org_id     BIGINT      NOT NULL,
	actor      TEXT        NOT NULL,
	action     TEXT        NOT NULL,
	target     TEXT        NOT NULL,
	before     TEXT        NOT NULL,
	after      TEXT        NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_org_id_id ON audit (org_id, id);

-- One row, bumped by every mutation (with a NOTIFY) so caches can tell when to reload.
CREATE TABLE store_version (
	id INT    PRIMARY KEY CHECK (id = 1),
	n  BIGINT NOT NULL
);
INSERT INTO store_version (id, n) VALUES (1, 1);
