-- Functions of the native PostgreSQL layout. Applied when the layout is created and again,
-- with CREATE OR REPLACE, whenever LAYOUT_VERSION grows (store/layout.rs), so a database
-- created by an older version gets the current definitions.
--
-- Every function here is SECURITY DEFINER: it runs as the owner. Its search_path names
-- pg_temp last, and every relation is schema-qualified, so a session's temporary tables (the
-- application role may create them) can never stand in for ours while the owner's rights are
-- in force. `pg_temp.ingest_staging` is named explicitly because it is meant to be temporary,
-- and is checked to be the owner's own table before it is read.

CREATE OR REPLACE FUNCTION public.ensure_sample_partitions(first_day date, last_day date) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$
    DECLARE
        d date;
        part text;
        created integer := 0;
    BEGIN
        FOR d IN SELECT generate_series(first_day, last_day, interval '1 day')::date LOOP
            part := 'samples_p' || to_char(d, 'YYYYMMDD');
            IF to_regclass(format('public.%I', part)) IS NULL THEN
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
REVOKE ALL ON FUNCTION public.ensure_sample_partitions(date, date) FROM PUBLIC;

CREATE OR REPLACE FUNCTION public.drop_expired_partitions(keep interval) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$
    DECLARE
        part record;
        dropped integer := 0;
        horizon date := ((now() - keep) AT TIME ZONE 'UTC')::date;
    BEGIN
        FOR part IN
            SELECT c.relname FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'public.samples'::regclass AND c.relname ~ '^samples_p[0-9]{8}$'
              AND to_date(substr(c.relname, 10), 'YYYYMMDD') < horizon
        LOOP
            EXECUTE format('DROP TABLE public.%I', part.relname);
            dropped := dropped + 1;
        END LOOP;
        DELETE FROM public.rollup_1m WHERE bucket < now() - keep;
        DELETE FROM public.rollup_1h WHERE bucket < now() - keep;
        RETURN dropped;
    END
    $$;
REVOKE ALL ON FUNCTION public.drop_expired_partitions(interval) FROM PUBLIC;

CREATE OR REPLACE FUNCTION public.ingest_commit() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$
    DECLARE
        tenant integer := public.current_tenant();
        site bigint := public.current_site();
        first_day date;
        last_day date;
        inserted bigint;
    BEGIN
        IF tenant IS NULL THEN
            RAISE EXCEPTION 'millwright.tenant_id is not set' USING ERRCODE = '42501';
        END IF;
        PERFORM public.check_ingest_staging();
        SELECT (min(time) AT TIME ZONE 'UTC')::date, (max(time) AT TIME ZONE 'UTC')::date
            INTO first_day, last_day FROM pg_temp.ingest_staging;
        IF first_day IS NULL THEN
            RETURN 0;
        END IF;
        PERFORM public.ensure_sample_partitions(first_day, last_day);
        -- Only the tenant's own tags (and, for a device token scoped to a site, that site's).
        INSERT INTO public.samples (time, tenant_id, tag_id, value, quality)
        SELECT s.time, tenant, s.tag_id, s.value, s.quality
        FROM pg_temp.ingest_staging s
        WHERE s.tag_id IN (SELECT a.id FROM public.allowed_ingest_tags(tenant, site) a)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS inserted = ROW_COUNT;
        IF inserted > 0 THEN
            INSERT INTO public.rollup_dirty (tag_id, tenant_id, first_time, last_time)
            SELECT s.tag_id, tenant, min(s.time), max(s.time) FROM pg_temp.ingest_staging s
            WHERE s.tag_id IN (SELECT a.id FROM public.allowed_ingest_tags(tenant, site) a)
            GROUP BY s.tag_id;
        END IF;
        RETURN inserted;
    END
    $$;

-- Recomputes the rollups of dirty minutes from raw samples, then the hours above them from
-- the minutes: every tenant's (NULL, NULL: maintenance), or only one tenant's tag (a read).
-- Safe to call at any time and from several sessions: they queue on a lock, and the later
-- ones find little or nothing left to do. Not granted to the application role: it reaches it
-- through refresh_rollups() (maintenance) and refresh_tag_rollups() (its own tenant's tag).
CREATE OR REPLACE FUNCTION public.refresh_rollups_of(p_tenant integer, p_tag bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$
    DECLARE
        minutes bigint;
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('millwright.rollups'));
        WITH drained AS (
            DELETE FROM public.rollup_dirty rd
            WHERE (p_tenant IS NULL OR rd.tenant_id = p_tenant) AND (p_tag IS NULL OR rd.tag_id = p_tag)
            RETURNING tag_id, tenant_id, first_time, last_time
        ), dirty AS (
            -- Every minute any drained range touches, once.
            SELECT DISTINCT d.tag_id, d.tenant_id, m.bucket
            FROM drained d
            CROSS JOIN LATERAL generate_series(date_trunc('minute', d.first_time),
                                               date_trunc('minute', d.last_time),
                                               interval '1 minute') AS m(bucket)
        ), refreshed AS (
            INSERT INTO public.rollup_1m AS r (bucket, tenant_id, tag_id, sum, count, min, max, last, last_time)
            SELECT d.bucket, d.tenant_id, d.tag_id, a.sum, a.count, a.min, a.max, a.last, a.last_time
            FROM dirty d CROSS JOIN LATERAL (
                SELECT count(*) AS rows, sum(s.value) AS sum, count(s.value) AS count, min(s.value) AS min,
                       max(s.value) AS max,
                       (array_agg(s.value ORDER BY s.time DESC) FILTER (WHERE s.value IS NOT NULL))[1] AS last,
                       max(s.time) FILTER (WHERE s.value IS NOT NULL) AS last_time
                FROM public.samples s
                WHERE s.tag_id = d.tag_id AND s.tenant_id = d.tenant_id AND s.time >= d.bucket AND s.time < d.bucket + interval '1 minute'
            ) a
            WHERE a.rows > 0 -- minutes inside a range that hold no sample get no rollup row
            ON CONFLICT (tenant_id, tag_id, bucket) DO UPDATE SET
                sum = excluded.sum, count = excluded.count, min = excluded.min, max = excluded.max,
                last = excluded.last, last_time = excluded.last_time
            RETURNING r.tag_id, r.bucket, r.tenant_id
        ), hours AS (
            INSERT INTO public.rollup_dirty_hour (tag_id, bucket, tenant_id)
            SELECT DISTINCT tag_id, date_trunc('hour', bucket), tenant_id FROM refreshed
            ON CONFLICT DO NOTHING
        )
        SELECT count(*) INTO minutes FROM refreshed;

        WITH dirty AS (
            DELETE FROM public.rollup_dirty_hour rh
            WHERE (p_tenant IS NULL OR rh.tenant_id = p_tenant) AND (p_tag IS NULL OR rh.tag_id = p_tag)
            RETURNING tag_id, bucket, tenant_id
        )
        INSERT INTO public.rollup_1h AS r (bucket, tenant_id, tag_id, sum, count, min, max, last, last_time)
        SELECT d.bucket, d.tenant_id, d.tag_id, a.sum, a.count, a.min, a.max, a.last, a.last_time
        FROM dirty d CROSS JOIN LATERAL (
            SELECT sum(m.sum) AS sum, coalesce(sum(m.count), 0)::bigint AS count, min(m.min) AS min,
                   max(m.max) AS max,
                   (array_agg(m.last ORDER BY m.last_time DESC) FILTER (WHERE m.last_time IS NOT NULL))[1] AS last,
                   max(m.last_time) AS last_time
            FROM public.rollup_1m m
            WHERE m.tag_id = d.tag_id AND m.tenant_id = d.tenant_id AND m.bucket >= d.bucket AND m.bucket < d.bucket + interval '1 hour'
        ) a
        ON CONFLICT (tenant_id, tag_id, bucket) DO UPDATE SET
            sum = excluded.sum, count = excluded.count, min = excluded.min, max = excluded.max,
            last = excluded.last, last_time = excluded.last_time;
        RETURN minutes;
    END
    $$;
-- statement
REVOKE ALL ON FUNCTION public.refresh_rollups_of(integer, bigint) FROM PUBLIC;
-- statement
-- Every tenant's pending rollups (maintenance).
CREATE OR REPLACE FUNCTION public.refresh_rollups() RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$ SELECT public.refresh_rollups_of(NULL, NULL) $$;
-- statement
-- A read's refresh: only the reading tenant's tag (the tenant is the session's, never an
-- argument), so one tenant's reads never pay for another's ingest.
CREATE OR REPLACE FUNCTION public.refresh_tag_rollups(p_tag bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$
    DECLARE
        tenant integer := nullif(pg_catalog.current_setting('millwright.tenant_id', true), '')::integer;
    BEGIN
        IF tenant IS NULL OR p_tag IS NULL THEN
            RETURN 0;
        END IF;
        RETURN public.refresh_rollups_of(tenant, p_tag);
    END
    $$;
