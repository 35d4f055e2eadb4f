-- Text ingest confined like numeric ingest (issue #11); see text_scoped_plain.sql.
-- TimescaleDB layout.

CREATE OR REPLACE FUNCTION public.ingest_commit_text() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$
    DECLARE
        tenant integer := public.current_tenant();
        site bigint := public.current_site();
        inserted bigint;
    BEGIN
        IF tenant IS NULL THEN
            RAISE EXCEPTION 'millwright.tenant_id is not set' USING ERRCODE = '42501';
        END IF;
        PERFORM public.check_ingest_staging_text();
        WITH inserted_rows AS (
            INSERT INTO public.text_samples (time, tenant_id, tag_id, value, quality)
            SELECT s.time, tenant, s.tag_id, s.value, s.quality
            FROM pg_temp.ingest_staging_text s
            WHERE s.tag_id IN (SELECT t.id FROM public.tags t
                               WHERE t.tenant_id = tenant AND t.value_type = 'text'
                                 AND t.id IN (SELECT a.id FROM public.allowed_ingest_tags(tenant, site) a))
            ON CONFLICT DO NOTHING
            RETURNING 1
        )
        SELECT count(*) INTO inserted FROM inserted_rows;
        RETURN inserted;
    END
    $$;
