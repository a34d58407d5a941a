-- The relay marks thousands of rows published per step. An index that holds
-- `published_at` moves an entry for every row it marks; the aggregate index
-- (read only by the relay's ordering check, which filters on `seq`) does
-- not need the flag, so it holds `seq` instead.
ALTER TABLE outbox
    DROP INDEX ix_outbox_aggregate,
    ADD INDEX ix_outbox_aggregate (aggregatetype, aggregateid, seq);
