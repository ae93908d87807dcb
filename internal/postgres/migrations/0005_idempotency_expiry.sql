-- Expired idempotency records are purged by expiry time.
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
