-- Shared by both layouts, applied after the layout-specific part. Samples and rollups are
-- reachable by the application role only through these security-barrier views, which filter
-- on the transaction's tenant; it has no grant on the tables, partitions, chunks or
-- aggregates underneath.

CREATE VIEW tenant_samples WITH (security_barrier) AS
    SELECT time, tag_id, value, quality FROM samples WHERE tenant_id = current_tenant();

CREATE VIEW tenant_rollup_1m WITH (security_barrier) AS
    SELECT bucket, tag_id, sum, count, min, max, last, last_time
    FROM rollup_1m WHERE tenant_id = current_tenant();

CREATE VIEW tenant_rollup_1h WITH (security_barrier) AS
    SELECT bucket, tag_id, sum, count, min, max, last, last_time
    FROM rollup_1h WHERE tenant_id = current_tenant();

GRANT SELECT ON tenant_samples, tenant_rollup_1m, tenant_rollup_1h TO millwright_app;

-- Ingest goes through a per-session staging table that the application may only append to
-- (binary COPY), and `ingest_commit`, which stamps the transaction's tenant on every row and
-- keeps only rows of that tenant's tags. The tenant never comes from the payload.
CREATE FUNCTION ingest_prepare() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
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
    END
    $$;
REVOKE ALL ON FUNCTION ingest_prepare() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest_prepare() TO millwright_app;
REVOKE ALL ON FUNCTION ingest_commit() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest_commit() TO millwright_app;
REVOKE ALL ON FUNCTION refresh_rollups() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refresh_rollups() TO millwright_app;
