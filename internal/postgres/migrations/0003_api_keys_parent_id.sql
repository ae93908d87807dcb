-- RevokeAPIKey also revokes the browser tokens a key minted: find them by parent_id.
CREATE INDEX api_keys_parent_id ON api_keys (parent_id);
