-- The request a refund answered: its caller's Idempotency-Key
-- (`{user id}:{key}`), NULL without one. A request whose first run
-- committed its refund but died before its answer was stored is run again
-- once its claim is abandoned; the unique key makes that rerun find the
-- refund it already made instead of refunding twice.
ALTER TABLE refunds
    ADD COLUMN request_key VARCHAR(160) NULL AFTER requested_by,
    ADD UNIQUE KEY ux_refunds_request_key (payment_id, request_key);
