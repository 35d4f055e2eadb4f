-- The tenant views name their tenant (issue #18), every layout: `tenant_id` is appended to
-- tenant_samples, tenant_rollup_1m, tenant_rollup_1h and tenant_text_samples, so a read can
-- say `tenant_id = $n` beside the view's own filter on the session's tenant. On one node that
-- changes nothing; on Citus it routes the read to the tenant's shard alone, where any SQL runs
-- (a filter that comes only from the session's setting goes to every shard, and lateral joins
-- over many shards are refused).

CREATE OR REPLACE VIEW tenant_samples WITH (security_barrier) AS
    SELECT time, tag_id, value, quality, tenant_id FROM samples WHERE tenant_id = current_tenant();

CREATE OR REPLACE VIEW tenant_rollup_1m WITH (security_barrier) AS
    SELECT bucket, tag_id, sum, count, min, max, last, last_time, tenant_id
    FROM rollup_1m WHERE tenant_id = current_tenant();

CREATE OR REPLACE VIEW tenant_rollup_1h WITH (security_barrier) AS
    SELECT bucket, tag_id, sum, count, min, max, last, last_time, tenant_id
    FROM rollup_1h WHERE tenant_id = current_tenant();

CREATE OR REPLACE VIEW tenant_text_samples WITH (security_barrier) AS
    SELECT time, tag_id, value, quality, tenant_id FROM text_samples WHERE tenant_id = current_tenant();
