-- Text ingest confined like numeric ingest (issue #11), both layouts: the text staging table
-- must be an ordinary table the owner made (see check_ingest_staging in common_functions.sql).

CREATE OR REPLACE FUNCTION public.check_ingest_staging_text() RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
    AS $$
    BEGIN
        IF NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_class c
            WHERE c.oid = to_regclass('pg_temp.ingest_staging_text')
              AND c.relkind = 'r'
              AND c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
              AND NOT c.relhasrules AND NOT c.relhastriggers
        ) THEN
            RAISE EXCEPTION 'pg_temp.ingest_staging_text is not the table ingest_prepare_text() made'
                USING ERRCODE = '42501';
        END IF;
    END
    $$;
REVOKE ALL ON FUNCTION public.check_ingest_staging_text() FROM PUBLIC;

CREATE OR REPLACE FUNCTION public.ingest_prepare_text() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$
    BEGIN
        IF to_regclass('pg_temp.ingest_staging_text') IS NULL THEN
            CREATE TEMP TABLE ingest_staging_text (
                tag_id  bigint NOT NULL,
                time    timestamptz NOT NULL,
                value   text,
                quality smallint NOT NULL
            ) ON COMMIT DELETE ROWS;
            GRANT INSERT ON pg_temp.ingest_staging_text TO millwright_app;
        END IF;
        PERFORM public.check_ingest_staging_text();
    END
    $$;
