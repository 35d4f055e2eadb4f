-- Keys ready for distribution by tenant (issue #18, migration V15); see keys_plain.sql.
-- TimescaleDB layout: the hypertables' unique indexes become `(tenant_id, tag_id, time)`.
-- TimescaleDB 2.28 builds them over compressed chunks too, and still refuses duplicates that
-- land in a compressed chunk (checked by platform/tests/distribution_keys.rs). The continuous
-- aggregates have no unique key: their rows are their GROUP BY (bucket, tenant_id, tag_id).

DROP INDEX IF EXISTS public.samples_tag_time;
-- statement
CREATE UNIQUE INDEX IF NOT EXISTS samples_tenant_tag_time ON public.samples (tenant_id, tag_id, time);
-- statement
DROP INDEX IF EXISTS public.text_samples_tag_time;
-- statement
CREATE UNIQUE INDEX IF NOT EXISTS text_samples_tenant_tag_time ON public.text_samples (tenant_id, tag_id, time);
