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

CREATE FUNCTION ensure_sample_partitions(first_day date, last_day date) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    SET jit = off
    AS $$
    DECLARE
        d date;
        part text;
        created integer := 0;
    BEGIN
        FOR d IN SELECT generate_series(first_day, last_day, interval '1 day')::date LOOP
            part := 'samples_p' || to_char(d, 'YYYYMMDD');
            IF to_regclass(part) IS NULL THEN
                -- Serialise creators; the second one finds the partition already there.
                PERFORM pg_advisory_xact_lock(hashtext('millwright.sample_partitions'));
                BEGIN
                    EXECUTE format('CREATE TABLE public.%I PARTITION OF public.samples FOR VALUES FROM (%L) TO (%L)',
                                   part, d::timestamp AT TIME ZONE 'UTC',
                                   (d + 1)::timestamp AT TIME ZONE 'UTC');
                    created := created + 1;
                EXCEPTION WHEN duplicate_table OR unique_violation THEN
                    NULL; -- created by a concurrent session since we looked
                END;
            END IF;
        END LOOP;
        RETURN created;
    END
    $$;
REVOKE ALL ON FUNCTION ensure_sample_partitions(date, date) FROM PUBLIC;

CREATE FUNCTION drop_expired_partitions(keep interval) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    SET jit = off
    AS $$
    DECLARE
        part record;
        dropped integer := 0;
        horizon date := ((now() - keep) AT TIME ZONE 'UTC')::date;
    BEGIN
        FOR part IN
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'samples'::regclass AND c.relname ~ '^samples_p[0-9]{8}$'
              AND to_date(substr(c.relname, 10), 'YYYYMMDD') < horizon
        LOOP
            EXECUTE format('DROP TABLE public.%I', part.relname);
            dropped := dropped + 1;
        END LOOP;
        DELETE FROM rollup_1m WHERE bucket < now() - keep;
        DELETE FROM rollup_1h WHERE bucket < now() - keep;
        RETURN dropped;
    END
    $$;
REVOKE ALL ON FUNCTION drop_expired_partitions(interval) FROM PUBLIC;

CREATE FUNCTION ingest_commit() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    SET jit = off
    AS $$
    DECLARE
        tenant integer := current_tenant();
        first_day date;
        last_day date;
        inserted bigint;
    BEGIN
        IF tenant IS NULL THEN
            RAISE EXCEPTION 'millwright.tenant_id is not set' USING ERRCODE = '42501';
        END IF;
        SELECT (min(time) AT TIME ZONE 'UTC')::date, (max(time) AT TIME ZONE 'UTC')::date
            INTO first_day, last_day FROM pg_temp.ingest_staging;
        IF first_day IS NULL THEN
            RETURN 0;
        END IF;
        PERFORM ensure_sample_partitions(first_day, last_day);
        INSERT INTO samples (time, tenant_id, tag_id, value, quality)
        SELECT s.time, tenant, s.tag_id, s.value, s.quality
        FROM pg_temp.ingest_staging s
        WHERE s.tag_id IN (SELECT id FROM tags WHERE tenant_id = tenant)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS inserted = ROW_COUNT;
        IF inserted > 0 THEN
            INSERT INTO rollup_dirty (tag_id, tenant_id, first_time, last_time)
            SELECT tag_id, tenant, min(time), max(time) FROM pg_temp.ingest_staging GROUP BY tag_id;
        END IF;
        RETURN inserted;
    END
    $$;

-- Recomputes the rollups of every dirty minute from raw samples, then the hours above them
-- from the minutes. Safe to call at any time and from several sessions: they queue on a lock,
-- and the later ones find little or nothing left to do.
CREATE FUNCTION refresh_rollups() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    SET jit = off
    AS $$
    DECLARE
        minutes bigint;
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('millwright.rollups'));
        WITH drained AS (
            DELETE FROM rollup_dirty RETURNING tag_id, tenant_id, first_time, last_time
        ), dirty AS (
            -- Every minute any drained range touches, once.
            SELECT DISTINCT d.tag_id, d.tenant_id, m.bucket
            FROM drained d
            CROSS JOIN LATERAL generate_series(date_trunc('minute', d.first_time),
                                               date_trunc('minute', d.last_time),
                                               interval '1 minute') AS m(bucket)
        ), refreshed AS (
            INSERT INTO rollup_1m AS r (bucket, tenant_id, tag_id, sum, count, min, max, last, last_time)
            SELECT d.bucket, d.tenant_id, d.tag_id, a.sum, a.count, a.min, a.max, a.last, a.last_time
            FROM dirty d CROSS JOIN LATERAL (
                SELECT count(*) AS rows, sum(s.value) AS sum, count(s.value) AS count, min(s.value) AS min,
                       max(s.value) AS max,
                       (array_agg(s.value ORDER BY s.time DESC) FILTER (WHERE s.value IS NOT NULL))[1] AS last,
                       max(s.time) FILTER (WHERE s.value IS NOT NULL) AS last_time
                FROM samples s
                WHERE s.tag_id = d.tag_id AND s.time >= d.bucket AND s.time < d.bucket + interval '1 minute'
            ) a
            WHERE a.rows > 0 -- minutes inside a range that hold no sample get no rollup row
            ON CONFLICT (tag_id, bucket) DO UPDATE SET
                sum = excluded.sum, count = excluded.count, min = excluded.min, max = excluded.max,
                last = excluded.last, last_time = excluded.last_time
            RETURNING r.tag_id, r.bucket, r.tenant_id
        ), hours AS (
            INSERT INTO rollup_dirty_hour (tag_id, bucket, tenant_id)
            SELECT DISTINCT tag_id, date_trunc('hour', bucket), tenant_id FROM refreshed
            ON CONFLICT DO NOTHING
        )
        SELECT count(*) INTO minutes FROM refreshed;

        WITH dirty AS (
            DELETE FROM rollup_dirty_hour RETURNING tag_id, bucket, tenant_id
        )
        INSERT INTO rollup_1h AS r (bucket, tenant_id, tag_id, sum, count, min, max, last, last_time)
        SELECT d.bucket, d.tenant_id, d.tag_id, a.sum, a.count, a.min, a.max, a.last, a.last_time
        FROM dirty d CROSS JOIN LATERAL (
            SELECT sum(m.sum) AS sum, coalesce(sum(m.count), 0)::bigint AS count, min(m.min) AS min,
                   max(m.max) AS max,
                   (array_agg(m.last ORDER BY m.last_time DESC) FILTER (WHERE m.last_time IS NOT NULL))[1] AS last,
                   max(m.last_time) AS last_time
            FROM rollup_1m m
            WHERE m.tag_id = d.tag_id AND m.bucket >= d.bucket AND m.bucket < d.bucket + interval '1 hour'
        ) a
        ON CONFLICT (tag_id, bucket) DO UPDATE SET
            sum = excluded.sum, count = excluded.count, min = excluded.min, max = excluded.max,
            last = excluded.last, last_time = excluded.last_time;
        RETURN minutes;
    END
    $$;
