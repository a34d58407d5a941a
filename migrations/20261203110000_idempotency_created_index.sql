-- The idempotency-key pruner deletes keys older than
-- idempotency.retention_hours in small batches ordered by created_at; this
-- index makes each batch touch (and lock) only the rows it deletes.
CREATE INDEX ix_idempotency_created ON idempotency_keys (created_at);
