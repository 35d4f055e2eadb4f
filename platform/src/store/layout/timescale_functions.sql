-- Functions of the TimescaleDB layout. Applied when the layout is created and again, with
-- CREATE OR REPLACE, whenever LAYOUT_VERSION grows (store/layout.rs). Statements are run one
-- at a time; `-- statement` separates them.
--
-- SECURITY DEFINER functions run as the owner: pg_temp comes last in their search_path and
-- every relation is schema-qualified, so a session's temporary tables cannot stand in for
-- ours (see plain_functions.sql).

CREATE OR REPLACE FUNCTION public.ingest_commit() RETURNS bigint
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
        PERFORM public.check_ingest_staging();
        -- Only the tenant's own tags (and, for a device token scoped to a site, that site's).
        WITH inserted_rows AS (
            INSERT INTO public.samples (time, tenant_id, tag_id, value, quality)
            SELECT s.time, tenant, s.tag_id, s.value, s.quality
            FROM pg_temp.ingest_staging s
            WHERE s.tag_id IN (SELECT a.id FROM public.allowed_ingest_tags(tenant, site) a)
            ON CONFLICT DO NOTHING
            RETURNING 1
        )
        SELECT count(*) INTO inserted FROM inserted_rows;
        RETURN inserted;
    END
    $$;
-- statement
-- Continuous aggregates with real-time aggregation are always current: nothing to refresh
-- before a read. Materialisation is the policies' job (or `CALL refresh_continuous_aggregate`).
CREATE OR REPLACE FUNCTION public.refresh_rollups() RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$ SELECT 0::bigint $$;
-- statement
CREATE OR REPLACE FUNCTION public.refresh_tag_rollups(p_tag bigint) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$ SELECT 0::bigint $$;
