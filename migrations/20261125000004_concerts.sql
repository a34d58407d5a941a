-- Concert ticketing (seed 003): concerts, their schedules (a date at a
-- venue), the seats of each schedule, reservations that hold or own a seat,
-- and the sold-out ranking. Payments gain reservations as a second kind of
-- purchase beside orders.

CREATE TABLE concerts (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    title      VARCHAR(200)    NOT NULL,
    created_at DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE concert_schedules (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    concert_id       BIGINT UNSIGNED NOT NULL,
    -- When the show starts, and where.
    starts_at        DATETIME(3)     NOT NULL,
    venue            VARCHAR(200)    NOT NULL,
    -- When booking opened: a sell-out is timed from here.
    booking_opens_at DATETIME(3)     NOT NULL,
    total_seats      INT UNSIGNED    NOT NULL,
    KEY ix_schedules_concert (concert_id),
    CONSTRAINT fk_schedules_concert FOREIGN KEY (concert_id) REFERENCES concerts (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE seats (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    schedule_id    BIGINT UNSIGNED NOT NULL,
    seat_number    INT UNSIGNED    NOT NULL,
    grade          VARCHAR(16)     NOT NULL,
    price          BIGINT UNSIGNED NOT NULL,
    -- AVAILABLE → HELD → SOLD; HELD → AVAILABLE when the hold ends.
    -- A HELD seat whose hold_until has passed is available again.
    status         VARCHAR(16)     NOT NULL DEFAULT 'AVAILABLE',
    -- The reservation holding (HELD) or owning (SOLD) the seat.
    reservation_id BIGINT UNSIGNED NULL,
    hold_until     DATETIME(3)     NULL,
    UNIQUE KEY uq_seat_number (schedule_id, seat_number),
    CONSTRAINT fk_seats_schedule FOREIGN KEY (schedule_id) REFERENCES concert_schedules (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE reservations (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id         BIGINT UNSIGNED NOT NULL,
    concert_id      BIGINT UNSIGNED NOT NULL,
    schedule_id     BIGINT UNSIGNED NOT NULL,
    seat_id         BIGINT UNSIGNED NOT NULL,
    price           BIGINT UNSIGNED NOT NULL,
    -- PENDING → CONFIRMED | CANCELLED | EXPIRED; the last three are terminal.
    status          VARCHAR(16)     NOT NULL,
    -- The value of the seat's Redis hold key: only this reservation may
    -- extend or release that hold.
    hold_id         CHAR(36)        NOT NULL,
    hold_expires_at DATETIME(3)     NOT NULL,
    created_at      DATETIME(3)     NOT NULL,
    updated_at      DATETIME(3)     NOT NULL,
    confirmed_at    DATETIME(3)     NULL,
    -- At most one live (PENDING or CONFIRMED) reservation per seat (a seat
    -- belongs to one schedule): the database refuses a double booking even
    -- if Redis lost the hold.
    live_seat_id    BIGINT UNSIGNED AS (IF(status IN ('PENDING', 'CONFIRMED'), seat_id, NULL)) PERSISTENT,
    UNIQUE KEY uq_reservations_live_seat (live_seat_id),
    KEY ix_reservations_user (user_id),
    KEY ix_reservations_schedule (schedule_id, status),
    CONSTRAINT fk_reservations_seat FOREIGN KEY (seat_id) REFERENCES seats (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Written by the sold-out ranking consumer, once per schedule.
CREATE TABLE sold_out_rankings (
    schedule_id      BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    concert_id       BIGINT UNSIGNED NOT NULL,
    booking_opens_at DATETIME(3)     NOT NULL,
    sold_out_at      DATETIME(3)     NOT NULL,
    -- sold_out_at − booking_opens_at: the ranking's score (fastest first).
    sell_out_ms      BIGINT UNSIGNED NOT NULL,
    KEY ix_rankings_speed (sell_out_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- A payment pays for an order or for a reservation.
ALTER TABLE payments
    MODIFY order_id BIGINT UNSIGNED NULL,
    ADD COLUMN reservation_id BIGINT UNSIGNED NULL AFTER order_id,
    ADD KEY ix_payments_reservation (reservation_id);

ALTER TABLE transaction_history
    MODIFY order_id BIGINT UNSIGNED NULL,
    ADD COLUMN reservation_id BIGINT UNSIGNED NULL AFTER order_id;

-- `stampede dlt replay`: one row per dead letter re-published, so a second
-- replay skips it.
CREATE TABLE dlt_replays (
    dlt_topic      VARCHAR(249)    NOT NULL,
    dlt_partition  INT             NOT NULL,
    dlt_offset     BIGINT          NOT NULL,
    original_topic VARCHAR(249)    NOT NULL,
    replayed_at    DATETIME(3)     NOT NULL,
    PRIMARY KEY (dlt_topic, dlt_partition, dlt_offset)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
