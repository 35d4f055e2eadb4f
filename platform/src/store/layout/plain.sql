-- Native PostgreSQL layout: samples range-partitioned by day, rollup tables kept up to date
-- by the platform from a log of dirty minutes (the same idea as TimescaleDB's invalidation
-- log), partitions created ahead and dropped by retention.

CREATE TABLE samples (
    time      timestamptz NOT NULL,
    tenant_id integer NOT NULL,
    tag_id    bigint NOT NULL,
    value     double precision,
    quality   smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (tag_id, time)
) PARTITION BY RANGE (time);

CREATE TABLE rollup_1m (
    bucket    timestamptz NOT NULL,
    tenant_id integer NOT NULL,
    tag_id    bigint NOT NULL,
    sum       double precision,
    count     bigint NOT NULL,
    min       double precision,
    max       double precision,
    last      double precision,
    last_time timestamptz,
    PRIMARY KEY (tag_id, bucket)
);
CREATE TABLE rollup_1h (LIKE rollup_1m INCLUDING ALL);

-- Time ranges per tag whose samples changed since their rollups were computed: one row per
-- tag per ingest batch, append-only (no unique key, so concurrent batches never wait on each
-- other here); refresh_rollups drains it.
CREATE TABLE rollup_dirty (
    tag_id     bigint NOT NULL,
    tenant_id  integer NOT NULL,
    first_time timestamptz NOT NULL,
    last_time  timestamptz NOT NULL
);
-- Hours whose minutes changed; filled and drained inside refresh_rollups.
CREATE TABLE rollup_dirty_hour (
    tag_id    bigint NOT NULL,
    bucket    timestamptz NOT NULL,
    tenant_id integer NOT NULL,
    PRIMARY KEY (tag_id, bucket)
);
