-- Functions of the Citus layout (issue #18), with the same names and signatures as the plain
-- layout's, so nothing above store/layout.rs knows which is in use. Applied when the layout is
-- created and again (CREATE OR REPLACE) whenever LAYOUT_VERSION grows.
--
-- Every SECURITY DEFINER function names pg_temp last in its search path and schema-qualifies
-- every relation (see plain_functions.sql). Partition bounds are computed in UTC.

-- The end of the newest columnar day of samples: samples before it go to columnar partitions,
-- which take plain INSERTs only. '-infinity' while no day is columnar.
CREATE OR REPLACE FUNCTION public.columnar_horizon() RETURNS timestamptz
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, public, pg_temp
    AS $$
        SELECT coalesce(max(p.to_value::timestamptz), '-infinity'::timestamptz)
        FROM pg_catalog.time_partitions p
        WHERE p.parent_table = 'public.samples'::regclass AND p.access_method = 'columnar'
    $$;
-- statement
REVOKE ALL ON FUNCTION public.columnar_horizon() FROM PUBLIC;
-- statement
-- Daily partitions of samples from first_day to last_day (UTC days), created through Citus
-- (create_time_partitions) when one is missing. Returns how many were created.
CREATE OR REPLACE FUNCTION public.ensure_sample_partitions(first_day date, last_day date) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    SET TimeZone = 'UTC'
    AS $$
    DECLARE
        before integer;
        after integer;
    BEGIN
        IF NOT EXISTS (
            SELECT 1 FROM pg_catalog.generate_series(first_day, last_day, interval '1 day') d
            WHERE pg_catalog.to_regclass('public.samples_p' || pg_catalog.to_char(d, 'YYYY_MM_DD')) IS NULL
        ) THEN
            RETURN 0;
        END IF;
        -- Serialise creators; the second one finds the partitions already there.
        PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('millwright.sample_partitions'));
        SELECT count(*) INTO before FROM pg_catalog.pg_inherits WHERE inhparent = 'public.samples'::regclass;
        PERFORM pg_catalog.create_time_partitions('public.samples'::regclass, interval '1 day',
                                                  (last_day + 1)::timestamptz, first_day::timestamptz);
        SELECT count(*) INTO after FROM pg_catalog.pg_inherits WHERE inhparent = 'public.samples'::regclass;
        RETURN after - before;
    END
    $$;
-- statement
REVOKE ALL ON FUNCTION public.ensure_sample_partitions(date, date) FROM PUBLIC;
-- statement
-- Retention: drops the days of samples older than `keep` (columnar or not) and deletes older
-- rollups (row tables). Returns how many days were dropped.
CREATE OR REPLACE FUNCTION public.drop_expired_partitions(keep interval) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    SET TimeZone = 'UTC'
    AS $$
    DECLARE
        part record;
        dropped integer := 0;
        horizon timestamptz := (((now() - keep) AT TIME ZONE 'UTC')::date)::timestamptz;
    BEGIN
        FOR part IN
            SELECT p.partition FROM pg_catalog.time_partitions p
            WHERE p.parent_table = 'public.samples'::regclass AND p.to_value::timestamptz <= horizon
        LOOP
            EXECUTE format('DROP TABLE %s', part.partition);
            dropped := dropped + 1;
        END LOOP;
        DELETE FROM public.rollup_1m WHERE bucket < now() - keep;
        DELETE FROM public.rollup_1h WHERE bucket < now() - keep;
        RETURN dropped;
    END
    $$;
-- statement
REVOKE ALL ON FUNCTION public.drop_expired_partitions(interval) FROM PUBLIC;
-- statement
-- Ingest through the coordinator: the staging table's rows of the tenant's own tags go into
-- samples. Row days take INSERT ... ON CONFLICT DO NOTHING. Late rows, for days already
-- columnar, are appended with a plain INSERT after removing those already stored (and
-- duplicates within the batch); a concurrent batch storing the same late sample makes this one
-- fail on the key, and its retry then finds the sample stored.
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
        horizon timestamptz;
        late_from timestamptz;
        late_to timestamptz;
        late_tags bigint[];
        inserted bigint;
        late bigint := 0;
    BEGIN
        IF tenant IS NULL THEN
            RAISE EXCEPTION 'millwright.tenant_id is not set' USING ERRCODE = '42501';
        END IF;
        PERFORM public.check_ingest_staging();
        SELECT (min(s.time) AT TIME ZONE 'UTC')::date, (max(s.time) AT TIME ZONE 'UTC')::date
            INTO first_day, last_day FROM pg_temp.ingest_staging s;
        IF first_day IS NULL THEN
            RETURN 0;
        END IF;
        PERFORM public.ensure_sample_partitions(first_day, last_day);
        horizon := public.columnar_horizon();
        -- Only the tenant's own tags (and, for a device token scoped to a site, that site's).
        -- Counted with RETURNING: Citus's row count for an INSERT ... SELECT through the
        -- coordinator counts the rows sent, skipped ones included.
        WITH ins AS (
            INSERT INTO public.samples (time, tenant_id, tag_id, value, quality)
            SELECT s.time, tenant, s.tag_id, s.value, s.quality
            FROM pg_temp.ingest_staging s
            WHERE s.time >= horizon
              AND s.tag_id IN (SELECT a.id FROM public.allowed_ingest_tags(tenant, site) a)
            ON CONFLICT DO NOTHING
            RETURNING 1
        )
        SELECT count(*) INTO inserted FROM ins;
        SELECT min(s.time), max(s.time), array_agg(DISTINCT s.tag_id)
            INTO late_from, late_to, late_tags
            FROM pg_temp.ingest_staging s WHERE s.time < horizon;
        IF late_from IS NOT NULL THEN
            WITH ins AS (
                INSERT INTO public.samples (time, tenant_id, tag_id, value, quality)
                SELECT DISTINCT ON (s.tag_id, s.time) s.time, tenant, s.tag_id, s.value, s.quality
                FROM pg_temp.ingest_staging s
                WHERE s.time < horizon
                  AND s.tag_id IN (SELECT a.id FROM public.allowed_ingest_tags(tenant, site) a)
                  AND (s.tag_id, s.time) NOT IN (
                      SELECT x.tag_id, x.time FROM public.samples x
                      WHERE x.tenant_id = tenant AND x.tag_id = ANY (late_tags)
                        AND x.time >= late_from AND x.time <= late_to)
                ORDER BY s.tag_id, s.time
                RETURNING 1
            )
            SELECT count(*) INTO late FROM ins;
        END IF;
        IF inserted + late > 0 THEN
            INSERT INTO public.rollup_dirty (tenant_id, tag_id, first_time, last_time)
            SELECT tenant, s.tag_id, min(s.time), max(s.time) FROM pg_temp.ingest_staging s
            WHERE s.tag_id IN (SELECT a.id FROM public.allowed_ingest_tags(tenant, site) a)
            GROUP BY s.tag_id;
        END IF;
        RETURN inserted + late;
    END
    $$;
-- statement
-- Recomputes the rollups of the claimed dirty ranges: every tenant's (NULL, NULL: maintenance)
-- or one tenant's tag (a read). Each step is one co-located INSERT ... SELECT ... ON CONFLICT
-- (or UPDATE, DELETE) that Citus runs on the workers, shard by shard; a read's refresh names
-- the tenant, so Citus routes it to that tenant's shard alone. Concurrent callers queue on a
-- lock; rows logged meanwhile are not claimed and wait for the next refresh.
CREATE OR REPLACE FUNCTION public.refresh_rollups_of(p_tenant integer, p_tag bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$
    DECLARE
        minutes bigint;
        -- Formatted from integers only.
        only_tag text := CASE WHEN p_tenant IS NULL THEN ''
                              ELSE format(' AND d.tenant_id = %s AND d.tag_id = %s', p_tenant::integer,
                                          coalesce(p_tag, -1)::bigint) END;
    BEGIN
        PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('millwright.rollups'));
        EXECUTE 'UPDATE public.rollup_dirty d SET claimed = true WHERE NOT d.claimed' || only_tag;
        -- Every minute and hour the claimed ranges touch, once (a set-returning function in
        -- the target list keeps the statement on the shards).
        EXECUTE $sql$
            INSERT INTO public.rollup_dirty_minute (tenant_id, tag_id, bucket)
            SELECT d.tenant_id, d.tag_id,
                   pg_catalog.generate_series(date_trunc('minute', d.first_time),
                                              date_trunc('minute', d.last_time), interval '1 minute')
            FROM public.rollup_dirty d WHERE d.claimed $sql$ || only_tag || $sql$
            ON CONFLICT DO NOTHING
        $sql$;
        EXECUTE $sql$
            INSERT INTO public.rollup_dirty_hour (tenant_id, tag_id, bucket)
            SELECT d.tenant_id, d.tag_id,
                   pg_catalog.generate_series(date_trunc('hour', d.first_time),
                                              date_trunc('hour', d.last_time), interval '1 hour')
            FROM public.rollup_dirty d WHERE d.claimed $sql$ || only_tag || $sql$
            ON CONFLICT DO NOTHING
        $sql$;
        EXECUTE $sql$
            INSERT INTO public.rollup_1m AS r (bucket, tenant_id, tag_id, sum, count, min, max, last, last_time)
            SELECT d.bucket, d.tenant_id, d.tag_id, sum(s.value), count(s.value), min(s.value), max(s.value),
                   (array_agg(s.value ORDER BY s.time DESC) FILTER (WHERE s.value IS NOT NULL))[1],
                   max(s.time) FILTER (WHERE s.value IS NOT NULL)
            FROM public.rollup_dirty_minute d
            JOIN public.samples s ON s.tenant_id = d.tenant_id AND s.tag_id = d.tag_id
                                 AND s.time >= d.bucket AND s.time < d.bucket + interval '1 minute'
            WHERE true $sql$ || only_tag || $sql$
            GROUP BY d.tenant_id, d.tag_id, d.bucket
            ON CONFLICT (tenant_id, tag_id, bucket) DO UPDATE SET
                sum = excluded.sum, count = excluded.count, min = excluded.min, max = excluded.max,
                last = excluded.last, last_time = excluded.last_time
        $sql$;
        GET DIAGNOSTICS minutes = ROW_COUNT;
        EXECUTE $sql$
            INSERT INTO public.rollup_1h AS r (bucket, tenant_id, tag_id, sum, count, min, max, last, last_time)
            SELECT d.bucket, d.tenant_id, d.tag_id, sum(m.sum), coalesce(sum(m.count), 0)::bigint,
                   min(m.min), max(m.max),
                   (array_agg(m.last ORDER BY m.last_time DESC) FILTER (WHERE m.last_time IS NOT NULL))[1],
                   max(m.last_time)
            FROM public.rollup_dirty_hour d
            JOIN public.rollup_1m m ON m.tenant_id = d.tenant_id AND m.tag_id = d.tag_id
                                   AND m.bucket >= d.bucket AND m.bucket < d.bucket + interval '1 hour'
            WHERE true $sql$ || only_tag || $sql$
            GROUP BY d.tenant_id, d.tag_id, d.bucket
            ON CONFLICT (tenant_id, tag_id, bucket) DO UPDATE SET
                sum = excluded.sum, count = excluded.count, min = excluded.min, max = excluded.max,
                last = excluded.last, last_time = excluded.last_time
        $sql$;
        EXECUTE 'DELETE FROM public.rollup_dirty_minute d WHERE true' || only_tag;
        EXECUTE 'DELETE FROM public.rollup_dirty_hour d WHERE true' || only_tag;
        EXECUTE 'DELETE FROM public.rollup_dirty d WHERE d.claimed' || only_tag;
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
-- argument).
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
