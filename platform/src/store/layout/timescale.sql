-- TimescaleDB layout: samples is a hypertable compressed after {compress_after_days} days
-- (segmented by tenant and tag), with continuous aggregates at one minute and one hour and
-- retention after {retention_days} days. Statements are run one at a time (TimescaleDB refuses
-- some of them inside a transaction block); `-- statement` separates them.
--
-- Row-level security is deliberately absent from the hypertable: TimescaleDB refuses
-- continuous aggregates on a hypertable with row security, and would not apply it to chunks
-- read directly anyway. Isolation comes from the views in common.sql and from granting the
-- application role nothing here.

CREATE TABLE samples (
    time      timestamptz NOT NULL,
    tenant_id integer NOT NULL,
    tag_id    bigint NOT NULL,
    value     double precision,
    quality   smallint NOT NULL DEFAULT 0
);
-- statement
SELECT create_hypertable('samples', by_range('time', INTERVAL '1 day'));
-- statement
CREATE UNIQUE INDEX samples_tag_time ON samples (tag_id, time);
-- statement
ALTER TABLE samples SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'tenant_id, tag_id',
    timescaledb.compress_orderby = 'time'
);
-- statement
SELECT add_compression_policy('samples', compress_after => INTERVAL '{compress_after_days} days');
-- statement
SELECT add_retention_policy('samples', drop_after => INTERVAL '{retention_days} days');
-- statement
CREATE MATERIALIZED VIEW rollup_1m
    WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
    SELECT time_bucket(INTERVAL '1 minute', time) AS bucket, tenant_id, tag_id,
           sum(value) AS sum, count(value) AS count, min(value) AS min, max(value) AS max,
           last(value, time) FILTER (WHERE value IS NOT NULL) AS last,
           max(time) FILTER (WHERE value IS NOT NULL) AS last_time
    FROM samples
    GROUP BY 1, tenant_id, tag_id
    WITH NO DATA;
-- statement
SELECT add_continuous_aggregate_policy('rollup_1m',
    start_offset => INTERVAL '2 days', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute');
-- statement
CREATE MATERIALIZED VIEW rollup_1h
    WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
    SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, tenant_id, tag_id,
           sum(sum) AS sum, sum(count)::bigint AS count, min(min) AS min, max(max) AS max,
           last(last, last_time) AS last, max(last_time) AS last_time
    FROM rollup_1m
    GROUP BY 1, tenant_id, tag_id
    WITH NO DATA;
-- statement
SELECT add_continuous_aggregate_policy('rollup_1h',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '1 hour');
-- statement
SELECT add_retention_policy('rollup_1m', drop_after => INTERVAL '{retention_days} days');
-- statement
SELECT add_retention_policy('rollup_1h', drop_after => INTERVAL '{retention_days} days');
