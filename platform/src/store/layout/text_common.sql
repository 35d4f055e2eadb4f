-- Text samples, shared by both layouts and applied after the layout-specific part: the
-- tenant view (the application's only way to read them) and the staging path of ingest, as
-- for numeric samples in common.sql.

CREATE VIEW tenant_text_samples WITH (security_barrier) AS
    SELECT time, tag_id, value, quality FROM text_samples WHERE tenant_id = current_tenant();
GRANT SELECT ON tenant_text_samples TO millwright_app;

-- A per-session staging table the application may only append to (binary COPY);
-- `ingest_commit_text` stamps the transaction's tenant and keeps only rows of that tenant's
-- text tags. The tenant never comes from the payload.
CREATE FUNCTION ingest_prepare_text() RETURNS void
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
    END
    $$;
REVOKE ALL ON FUNCTION ingest_prepare_text() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest_prepare_text() TO millwright_app;
REVOKE ALL ON FUNCTION ingest_commit_text() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest_commit_text() TO millwright_app;
