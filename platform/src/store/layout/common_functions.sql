-- Functions shared by both layouts, applied after the layout's own (store/layout.rs), at
-- creation and again whenever LAYOUT_VERSION grows.
--
-- Ingest goes through a per-session staging table that the application may only append to
-- (binary COPY), and `ingest_commit`, which stamps the transaction's tenant on every row and
-- keeps only rows of that tenant's tags. The tenant never comes from the payload.

-- The staging table must be the one ingest_prepare made: an ordinary table owned by the
-- owner role. A table of the same name made by the application role first could carry a rule
-- or be a view, and the definer functions would then run its code with the owner's rights.
CREATE OR REPLACE FUNCTION public.check_ingest_staging() RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
    AS $$
    BEGIN
        IF NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_class c
            WHERE c.oid = to_regclass('pg_temp.ingest_staging')
              AND c.relkind = 'r'
              AND c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
              AND NOT c.relhasrules AND NOT c.relhastriggers
        ) THEN
            RAISE EXCEPTION 'pg_temp.ingest_staging is not the table ingest_prepare() made'
                USING ERRCODE = '42501';
        END IF;
    END
    $$;
-- statement
REVOKE ALL ON FUNCTION public.check_ingest_staging() FROM PUBLIC;
-- statement
CREATE OR REPLACE FUNCTION public.ingest_prepare() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$
    BEGIN
        IF to_regclass('pg_temp.ingest_staging') IS NULL THEN
            CREATE TEMP TABLE ingest_staging (
                tag_id  bigint NOT NULL,
                time    timestamptz NOT NULL,
                value   double precision,
                quality smallint NOT NULL
            ) ON COMMIT DELETE ROWS;
            GRANT INSERT ON pg_temp.ingest_staging TO millwright_app;
        END IF;
        PERFORM public.check_ingest_staging();
    END
    $$;
-- statement
REVOKE ALL ON FUNCTION public.ingest_prepare() FROM PUBLIC;
-- statement
GRANT EXECUTE ON FUNCTION public.ingest_prepare() TO millwright_app;
-- statement
REVOKE ALL ON FUNCTION public.ingest_commit() FROM PUBLIC;
-- statement
GRANT EXECUTE ON FUNCTION public.ingest_commit() TO millwright_app;
-- statement
REVOKE ALL ON FUNCTION public.refresh_rollups() FROM PUBLIC;
-- statement
GRANT EXECUTE ON FUNCTION public.refresh_rollups() TO millwright_app;
-- statement
REVOKE ALL ON FUNCTION public.refresh_tag_rollups(bigint) FROM PUBLIC;
-- statement
GRANT EXECUTE ON FUNCTION public.refresh_tag_rollups(bigint) TO millwright_app;
