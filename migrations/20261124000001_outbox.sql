-- Transactional outbox. Column names follow Debezium's outbox event router
-- (id, aggregatetype, aggregateid, type, payload) so a CDC connector could
-- replace the in-process relay without a schema change.
CREATE TABLE outbox (
    -- Commit-order-ish sequence: the relay publishes per aggregate in seq order.
    seq            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- The event id (UUID v7), also sent as the `event_id` header.
    id             CHAR(36)        NOT NULL,
    aggregatetype  VARCHAR(64)     NOT NULL,
    aggregateid    VARCHAR(128)    NOT NULL,
    -- The event type, which is also the logical topic name.
    type           VARCHAR(128)    NOT NULL,
    schema_version INT UNSIGNED    NOT NULL DEFAULT 1,
    payload        LONGTEXT        NOT NULL,
    created_at     DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    published_at   DATETIME(6)     NULL,
    attempts       INT UNSIGNED    NOT NULL DEFAULT 0,
    last_error     TEXT            NULL,
    UNIQUE KEY uq_outbox_id (id),
    KEY ix_outbox_pending (published_at, seq),
    KEY ix_outbox_aggregate (aggregatetype, aggregateid, published_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Idempotent consumers: a handler inserts (consumer, event_id) in the same
-- transaction as its own changes, so a redelivered event changes nothing.
CREATE TABLE processed_events (
    consumer     VARCHAR(128) NOT NULL,
    event_id     CHAR(36)     NOT NULL,
    processed_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (consumer, event_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
