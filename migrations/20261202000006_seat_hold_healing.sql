-- The healer looks reservations up by their seat hold (was a pending hold
-- written through?) and lists the live holds to restore after Redis lost them.
ALTER TABLE reservations
    ADD KEY ix_reservations_hold (hold_id),
    ADD KEY ix_reservations_live_holds (status, hold_expires_at);
