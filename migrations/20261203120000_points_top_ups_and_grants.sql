-- Points are bought (a card payment through the PG: a top-up) or granted by
-- an admin (support), never charged for free.

-- PENDING -> SUCCEEDED (points credited in the same transaction) | FAILED.
CREATE TABLE point_top_ups (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id         BIGINT UNSIGNED NOT NULL,
    amount          BIGINT UNSIGNED NOT NULL,
    status          VARCHAR(16)     NOT NULL,
    -- The PG's transaction; NULL until the PG answered the request.
    transaction_key VARCHAR(64)     NULL,
    failure_reason  VARCHAR(500)    NULL,
    created_at      DATETIME(3)     NOT NULL,
    updated_at      DATETIME(3)     NOT NULL,
    UNIQUE KEY ux_top_up_transaction (transaction_key),
    KEY ix_top_up_user (user_id, created_at),
    KEY ix_top_up_status (status, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Who gave whom how many points, and why.
CREATE TABLE point_grants (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id    BIGINT UNSIGNED NOT NULL,
    amount     BIGINT UNSIGNED NOT NULL,
    reason     VARCHAR(500)    NOT NULL,
    -- The granting admin's token subject.
    granted_by VARCHAR(255)    NOT NULL,
    granted_at DATETIME(3)     NOT NULL,
    KEY ix_grant_user (user_id, granted_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
