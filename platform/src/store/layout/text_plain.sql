-- Text samples, native PostgreSQL layout: like `samples`, range-partitioned by day
-- (`text_samples_pYYYYMMDD`), partitions created ahead and on demand and dropped by retention.
-- No rollups: bucketed reads of text (last, count) come from raw samples.

CREATE TABLE text_samples (
    time      timestamptz NOT NULL,
    tenant_id integer NOT NULL,
    tag_id    bigint NOT NULL,
    value     text,
    quality   smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (tag_id, time)
) PARTITION BY RANGE (time);

CREATE FUNCTION ensure_text_sample_partitions(first_day date, last_day date) RETURNS integer
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
            part := 'text_samples_p' || to_char(d, 'YYYYMMDD');
            IF to_regclass('public.' || part) IS NULL THEN
                -- Serialise creators; the second one finds the partition already there.
                PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('millwright.text_sample_partitions'));
                BEGIN
                    EXECUTE format('CREATE TABLE public.%I PARTITION OF public.text_samples FOR VALUES FROM (%L) TO (%L)',
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
REVOKE ALL ON FUNCTION ensure_text_sample_partitions(date, date) FROM PUBLIC;

CREATE FUNCTION drop_expired_text_sample_partitions(keep interval) RETURNS integer
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
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'public.text_samples'::regclass AND c.relname ~ '^text_samples_p[0-9]{8}$'
              AND to_date(substr(c.relname, 15), 'YYYYMMDD') < horizon
        LOOP
            EXECUTE format('DROP TABLE public.%I', part.relname);
            dropped := dropped + 1;
        END LOOP;
        RETURN dropped;
    END
    $$;
REVOKE ALL ON FUNCTION drop_expired_text_sample_partitions(interval) FROM PUBLIC;

CREATE FUNCTION ingest_commit_text() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$
    DECLARE
        tenant integer := public.current_tenant();
        first_day date;
        last_day date;
        inserted bigint;
    BEGIN
        IF tenant IS NULL THEN
            RAISE EXCEPTION 'millwright.tenant_id is not set' USING ERRCODE = '42501';
        END IF;
        SELECT (min(s.time) AT TIME ZONE 'UTC')::date, (max(s.time) AT TIME ZONE 'UTC')::date
            INTO first_day, last_day FROM pg_temp.ingest_staging_text s;
        IF first_day IS NULL THEN
            RETURN 0;
        END IF;
        PERFORM public.ensure_text_sample_partitions(first_day, last_day);
        INSERT INTO public.text_samples (time, tenant_id, tag_id, value, quality)
        SELECT s.time, tenant, s.tag_id, s.value, s.quality
        FROM pg_temp.ingest_staging_text s
        WHERE s.tag_id IN (SELECT t.id FROM public.tags t
                           WHERE t.tenant_id = tenant AND t.value_type = 'text')
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS inserted = ROW_COUNT;
        RETURN inserted;
    END
    $$;
