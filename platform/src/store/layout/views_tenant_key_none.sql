-- The tenant views name their tenant (issue #18): nothing specific to this layout; see
-- views_tenant_key_common.sql.
SELECT 1;
