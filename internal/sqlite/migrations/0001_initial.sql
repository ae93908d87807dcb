-- Timestamps are UTC unix nanoseconds. Org ids 0 mean "platform" / "operator", so org_id
-- columns carry no foreign key; DeleteOrg removes an org's rows itself.

CREATE TABLE orgs (
	id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reuse an id: audit rows outlive orgs
	slug         TEXT    NOT NULL UNIQUE,
	name         TEXT    NOT NULL,
	cors_origins TEXT    NOT NULL DEFAULT '[]', -- JSON array
	created_at   INTEGER NOT NULL
);

CREATE TABLE api_keys (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id       INTEGER NOT NULL,
	prefix       TEXT    NOT NULL UNIQUE,
	hash         TEXT    NOT NULL UNIQUE,
	name         TEXT    NOT NULL,
	role         TEXT    NOT NULL,
	scopes       TEXT    NOT NULL DEFAULT '[]', -- JSON array
	parent_id    INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER,
	revoked_at   INTEGER,
	last_used_at INTEGER
);
CREATE INDEX api_keys_org_id ON api_keys (org_id);

CREATE TABLE credentials (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	service     TEXT    NOT NULL,
	source      TEXT    NOT NULL,
	org_id      INTEGER NOT NULL,
	kek_id      TEXT    NOT NULL,
	wrapped_dek BLOB    NOT NULL,
	ciphertext  BLOB    NOT NULL,
	fingerprint TEXT    NOT NULL,
	last4       TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	UNIQUE (service, source, org_id)
);
CREATE INDEX credentials_org_id ON credentials (org_id);

CREATE TABLE service_settings (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	service    TEXT    NOT NULL,
	org_id     INTEGER NOT NULL,
	enabled    INTEGER,  -- NULL: inherit
	policy     TEXT,     -- JSON aiproxy.Policy; NULL: inherit
	updated_at INTEGER NOT NULL,
	UNIQUE (service, org_id)
);
CREATE INDEX service_settings_org_id ON service_settings (org_id);

CREATE TABLE audit (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id     INTEGER NOT NULL,
	actor      TEXT    NOT NULL,
	action     TEXT    NOT NULL,
	target     TEXT    NOT NULL,
	before     TEXT    NOT NULL,
	after      TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX audit_org_id_id ON audit (org_id, id);

-- One row, bumped by every mutation so caches can tell when to reload.
CREATE TABLE store_version (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  INTEGER NOT NULL
);
INSERT INTO store_version (id, n) VALUES (1, 1);
