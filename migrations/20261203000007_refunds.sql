-- Refunds: a payment is refunded in one or many parts, never beyond what
-- it captured (`stampede-core/src/payment/refund.rs` decides, the payment
-- row is locked while it does).
CREATE TABLE refunds (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    payment_id     BIGINT UNSIGNED NOT NULL,
    -- The payer, who gets the money back.
    user_id        BIGINT UNSIGNED NOT NULL,
    amount         BIGINT UNSIGNED NOT NULL,
    reason         VARCHAR(500)    NOT NULL,
    -- USER, ADMIN or SYSTEM (a late payment Stampede could not fulfil).
    requested_by   VARCHAR(16)     NOT NULL,
    -- PENDING → SUCCEEDED | FAILED; a PENDING refund reserves its amount.
    status         VARCHAR(16)     NOT NULL,
    -- The PG's key for a card refund, once it answered.
    pg_refund_key  VARCHAR(64)     NULL,
    failure_reason VARCHAR(500)    NULL,
    created_at     DATETIME(3)     NOT NULL,
    updated_at     DATETIME(3)     NOT NULL,
    KEY ix_refunds_payment (payment_id),
    KEY ix_refunds_status_updated (status, updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Written by the transaction-history consumer of payment.refunded.
CREATE TABLE refund_history (
    refund_id      BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    payment_id     BIGINT UNSIGNED NOT NULL,
    order_id       BIGINT UNSIGNED NULL,
    reservation_id BIGINT UNSIGNED NULL,
    user_id        BIGINT UNSIGNED NOT NULL,
    amount         BIGINT UNSIGNED NOT NULL,
    method         VARCHAR(16)     NOT NULL,
    recorded_at    DATETIME(3)     NOT NULL,
    KEY ix_refund_history_payment (payment_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
