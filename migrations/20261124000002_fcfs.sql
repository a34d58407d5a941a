-- First-come-first-served issuance: coupon policies, issued user coupons,
-- campaigns and their entries.

CREATE TABLE coupon_policies (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name             VARCHAR(200)    NOT NULL,
    -- FIXED: discount_value is an amount; PERCENT: a percentage (1-100) capped by discount_cap.
    discount_kind    VARCHAR(16)     NOT NULL,
    discount_value   BIGINT UNSIGNED NOT NULL,
    discount_cap     BIGINT UNSIGNED NULL,
    total_stock      BIGINT UNSIGNED NOT NULL,
    -- Stock not yet issued according to the database (the truth).
    remaining        BIGINT UNSIGNED NOT NULL,
    per_user_limit   INT UNSIGNED    NOT NULL DEFAULT 1,
    issue_opens_at   DATETIME(3)     NOT NULL,
    issue_closes_at  DATETIME(3)     NOT NULL,
    -- Issued coupons are valid for this many days.
    valid_days       INT UNSIGNED    NOT NULL,
    -- GATE, QUEUE or DB_LOCK (the naive baseline, for benchmarks).
    issue_mode       VARCHAR(16)     NOT NULL,
    -- DRAFT → OPEN → CLOSED.
    status           VARCHAR(16)     NOT NULL,
    created_at       DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE user_coupons (
    -- The issue id handed to the winner (gate) or the request id (queue).
    id          CHAR(36)        NOT NULL PRIMARY KEY,
    policy_id   BIGINT UNSIGNED NOT NULL,
    user_id     BIGINT UNSIGNED NOT NULL,
    -- 1..per_user_limit: with the default limit of 1, (user, policy) is unique.
    ordinal     INT UNSIGNED    NOT NULL,
    -- ISSUED → USED | EXPIRED.
    status      VARCHAR(16)     NOT NULL,
    issued_at   DATETIME(3)     NOT NULL,
    expires_at  DATETIME(3)     NOT NULL,
    used_at     DATETIME(3)     NULL,
    UNIQUE KEY uq_user_coupon (user_id, policy_id, ordinal),
    KEY ix_user_coupons_policy (policy_id),
    CONSTRAINT fk_user_coupons_policy FOREIGN KEY (policy_id) REFERENCES coupon_policies (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE campaigns (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(200)    NOT NULL,
    total_slots BIGINT UNSIGNED NOT NULL,
    remaining   BIGINT UNSIGNED NOT NULL,
    opens_at    DATETIME(3)     NOT NULL,
    closes_at   DATETIME(3)     NOT NULL,
    status      VARCHAR(16)     NOT NULL,
    created_at  DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Seed 000's CampaignEntry(userId, campaignId, createdAt), found by (user, campaign).
CREATE TABLE campaign_entries (
    id          CHAR(36)        NOT NULL PRIMARY KEY,
    user_id     BIGINT UNSIGNED NOT NULL,
    campaign_id BIGINT UNSIGNED NOT NULL,
    created_at  DATETIME(3)     NOT NULL,
    UNIQUE KEY uq_campaign_entry (user_id, campaign_id),
    CONSTRAINT fk_campaign_entries_campaign FOREIGN KEY (campaign_id) REFERENCES campaigns (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
