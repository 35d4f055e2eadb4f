-- Text ingest confined like numeric ingest (issue #11): a device token scoped to a site writes
-- only that site's text tags, and the staging table must be the one ingest_prepare_text made.
-- A layout part of its own (after `text_samples`), so databases that already have text samples
-- get it too. Native PostgreSQL layout.

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
        INSERT INTO public.text_samples (time, tenant_id, tag_id, value, quality)
        SELECT s.time, tenant, s.tag_id, s.value, s.quality
        FROM pg_temp.ingest_staging_text s
        WHERE s.tag_id IN (SELECT t.id FROM public.tags t
                           WHERE t.tenant_id = tenant AND t.value_type = 'text'
                             AND t.id IN (SELECT a.id FROM public.allowed_ingest_tags(tenant, site) a))
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS inserted = ROW_COUNT;
        RETURN inserted;
    END
    $$;
