-- A user's history of credited points (paid top-ups and admin grants),
-- written by the transaction-history consumer of points.credited. A source
-- is credited once, so (source, source_id) is the key a redelivery hits.
CREATE TABLE points_history (
    -- TOP_UP or GRANT (`stampede-core/src/points/credited.rs`).
    source      VARCHAR(16)     NOT NULL,
    -- The top-up's or the grant's id.
    source_id   BIGINT UNSIGNED NOT NULL,
    user_id     BIGINT UNSIGNED NOT NULL,
    amount      BIGINT UNSIGNED NOT NULL,
    recorded_at DATETIME(3)     NOT NULL,
    PRIMARY KEY (source, source_id),
    KEY ix_points_history_user (user_id, recorded_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
