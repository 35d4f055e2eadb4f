-- Text samples, Citus layout (issue #18): like samples, range-partitioned by day through Citus
-- (text_samples_pYYYY_MM_DD), distributed by tenant_id and co-located with samples; row tables
-- only (no columnar: text days are small and take late samples with ON CONFLICT like any day).
-- The application role reads the table under row-level security (see citus.sql). No rollups.

-- The part runs in one transaction: Citus then needs one connection per worker for it.
SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
-- statement
CREATE TABLE text_samples (
    time      timestamptz NOT NULL,
    tenant_id integer NOT NULL,
    tag_id    bigint NOT NULL,
    value     text,
    quality   smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, tag_id, time)
) PARTITION BY RANGE (time);
-- statement
SELECT create_distributed_table('text_samples', 'tenant_id', colocate_with => 'samples');
-- statement
-- One command per query string: Citus forwards a propagated command's text to the workers.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE public.text_samples ENABLE ROW LEVEL SECURITY';
    EXECUTE 'CREATE POLICY tenant_rows ON public.text_samples FOR SELECT TO millwright_app '
            'USING (tenant_id = public.current_tenant())';
    EXECUTE 'GRANT SELECT ON public.text_samples TO millwright_app';
END
$$;
-- statement
CREATE OR REPLACE FUNCTION public.ensure_text_sample_partitions(first_day date, last_day date) RETURNS integer
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
            WHERE pg_catalog.to_regclass('public.text_samples_p' || pg_catalog.to_char(d, 'YYYY_MM_DD')) IS NULL
        ) THEN
            RETURN 0;
        END IF;
        PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('millwright.text_sample_partitions'));
        SELECT count(*) INTO before FROM pg_catalog.pg_inherits WHERE inhparent = 'public.text_samples'::regclass;
        PERFORM pg_catalog.create_time_partitions('public.text_samples'::regclass, interval '1 day',
                                                  (last_day + 1)::timestamptz, first_day::timestamptz);
        SELECT count(*) INTO after FROM pg_catalog.pg_inherits WHERE inhparent = 'public.text_samples'::regclass;
        RETURN after - before;
    END
    $$;
-- statement
REVOKE ALL ON FUNCTION public.ensure_text_sample_partitions(date, date) FROM PUBLIC;
-- statement
CREATE OR REPLACE FUNCTION public.drop_expired_text_sample_partitions(keep interval) RETURNS integer
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
            WHERE p.parent_table = 'public.text_samples'::regclass AND p.to_value::timestamptz <= horizon
        LOOP
            EXECUTE format('DROP TABLE %s', part.partition);
            dropped := dropped + 1;
        END LOOP;
        RETURN dropped;
    END
    $$;
-- statement
REVOKE ALL ON FUNCTION public.drop_expired_text_sample_partitions(interval) FROM PUBLIC;
-- statement
CREATE OR REPLACE FUNCTION public.ingest_commit_text() RETURNS bigint
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
        PERFORM public.check_ingest_staging_text();
        SELECT (min(s.time) AT TIME ZONE 'UTC')::date, (max(s.time) AT TIME ZONE 'UTC')::date
            INTO first_day, last_day FROM pg_temp.ingest_staging_text s;
        IF first_day IS NULL THEN
            RETURN 0;
        END IF;
        PERFORM public.ensure_text_sample_partitions(first_day, last_day);
        -- Counted with RETURNING (see ingest_commit in citus_functions.sql).
        WITH ins AS (
            INSERT INTO public.text_samples (time, tenant_id, tag_id, value, quality)
            SELECT s.time, tenant, s.tag_id, s.value, s.quality
            FROM pg_temp.ingest_staging_text s
            WHERE s.tag_id IN (SELECT t.id FROM public.tags t
                               WHERE t.tenant_id = tenant AND t.value_type = 'text'
                                 AND t.id IN (SELECT a.id FROM public.allowed_ingest_tags(tenant, site) a))
            ON CONFLICT DO NOTHING
            RETURNING 1
        )
        SELECT count(*) INTO inserted FROM ins;
        RETURN inserted;
    END
    $$;
