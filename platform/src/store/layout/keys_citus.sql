-- Keys ready for distribution (issue #18), Citus layout: nothing to do, citus.sql and
-- text_citus.sql create samples, text samples and rollups keyed (tenant_id, tag_id, time|bucket).
SELECT 1;
