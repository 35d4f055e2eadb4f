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
