-- Catalog, points, orders and payments.

CREATE TABLE products (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(200)    NOT NULL,
    -- Set for campaign products: buying one requires a winning entry.
    campaign_id BIGINT UNSIGNED NULL,
    created_at  DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    CONSTRAINT fk_products_campaign FOREIGN KEY (campaign_id) REFERENCES campaigns (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE product_options (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id BIGINT UNSIGNED NOT NULL,
    name       VARCHAR(200)    NOT NULL,
    price      BIGINT UNSIGNED NOT NULL,
    -- Never negative: every decrement is `WHERE stock >= ?`.
    stock      BIGINT UNSIGNED NOT NULL,
    KEY ix_options_product (product_id),
    CONSTRAINT fk_options_product FOREIGN KEY (product_id) REFERENCES products (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE user_points (
    user_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    balance BIGINT UNSIGNED NOT NULL DEFAULT 0
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE orders (
    id                    BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id               BIGINT UNSIGNED NOT NULL,
    -- PENDING → PAID (points) | COMPLETED (card) | FAILED | CANCELLED.
    status                VARCHAR(16)     NOT NULL,
    subtotal              BIGINT UNSIGNED NOT NULL,
    discount              BIGINT UNSIGNED NOT NULL,
    total                 BIGINT UNSIGNED NOT NULL,
    campaign_id           BIGINT UNSIGNED NULL,
    created_at            DATETIME(3)     NOT NULL,
    updated_at            DATETIME(3)     NOT NULL,
    -- Reconciliation lease: one instance at a time works on an order.
    reconcile_lease_until DATETIME(3)     NULL,
    KEY ix_orders_status_created (status, created_at),
    KEY ix_orders_user (user_id),
    KEY ix_orders_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE order_items (
    order_id   BIGINT UNSIGNED NOT NULL,
    option_id  BIGINT UNSIGNED NOT NULL,
    quantity   INT UNSIGNED    NOT NULL,
    unit_price BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (order_id, option_id),
    CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT fk_items_option FOREIGN KEY (option_id) REFERENCES product_options (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE order_coupons (
    order_id       BIGINT UNSIGNED NOT NULL,
    user_coupon_id CHAR(36)        NOT NULL,
    PRIMARY KEY (order_id, user_coupon_id),
    CONSTRAINT fk_order_coupons_order FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT fk_order_coupons_coupon FOREIGN KEY (user_coupon_id) REFERENCES user_coupons (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE payments (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id        BIGINT UNSIGNED NOT NULL,
    user_id         BIGINT UNSIGNED NOT NULL,
    -- POINTS or CARD.
    method          VARCHAR(16)     NOT NULL,
    amount          BIGINT UNSIGNED NOT NULL,
    -- PENDING → SUCCESS | FAILED.
    status          VARCHAR(16)     NOT NULL,
    transaction_key VARCHAR(64)     NULL,
    failure_reason  VARCHAR(500)    NULL,
    -- Paid at the PG but could not be fulfilled (out of stock): refund it.
    refund_required BOOLEAN         NOT NULL DEFAULT FALSE,
    created_at      DATETIME(3)     NOT NULL,
    updated_at      DATETIME(3)     NOT NULL,
    UNIQUE KEY uq_payments_transaction (transaction_key),
    KEY ix_payments_order (order_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Idempotency-Key: one stored response per (user, key).
CREATE TABLE idempotency_keys (
    user_id         BIGINT UNSIGNED NOT NULL,
    idempotency_key VARCHAR(128)    NOT NULL,
    request_hash    CHAR(64)        NOT NULL,
    -- NULL while the first request is still running.
    response_status SMALLINT UNSIGNED NULL,
    response_body   MEDIUMTEXT      NULL,
    created_at      DATETIME(3)     NOT NULL,
    expires_at      DATETIME(3)     NOT NULL,
    PRIMARY KEY (user_id, idempotency_key),
    KEY ix_idempotency_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Written by the transaction-history consumer of payment.success (seed 002).
CREATE TABLE transaction_history (
    payment_id  BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    order_id    BIGINT UNSIGNED NOT NULL,
    user_id     BIGINT UNSIGNED NOT NULL,
    amount      BIGINT UNSIGNED NOT NULL,
    method      VARCHAR(16)     NOT NULL,
    recorded_at DATETIME(3)     NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Notifications that were sent or, without SMTP, recorded (seed 004).
CREATE TABLE notifications (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id   CHAR(36)        NOT NULL,
    kind       VARCHAR(32)     NOT NULL,
    recipient  VARCHAR(200)    NOT NULL,
    body       TEXT            NOT NULL,
    created_at DATETIME(3)     NOT NULL,
    UNIQUE KEY uq_notification (event_id, kind, recipient)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
