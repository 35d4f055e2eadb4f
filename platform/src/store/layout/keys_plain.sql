-- Keys ready for distribution by tenant (issue #18, migration V15): samples, text samples and
-- rollups are keyed `(tenant_id, tag_id, time|bucket)`, tenant first, like every tenant-owned
-- table. A layout part (store/layout_parts.rs), so databases created before it are re-keyed
-- once, in one transaction, and new ones get the same keys right after the layout is created.
-- A tag belongs to one tenant, so the new keys hold exactly the rows the old ones held.
-- Native PostgreSQL layout: the partitioned tables' keys reach every partition.

ALTER TABLE public.samples DROP CONSTRAINT samples_pkey,
    ADD CONSTRAINT samples_pkey PRIMARY KEY (tenant_id, tag_id, time);
ALTER TABLE public.text_samples DROP CONSTRAINT text_samples_pkey,
    ADD CONSTRAINT text_samples_pkey PRIMARY KEY (tenant_id, tag_id, time);
ALTER TABLE public.rollup_1m DROP CONSTRAINT rollup_1m_pkey,
    ADD CONSTRAINT rollup_1m_pkey PRIMARY KEY (tenant_id, tag_id, bucket);
ALTER TABLE public.rollup_1h DROP CONSTRAINT rollup_1h_pkey,
    ADD CONSTRAINT rollup_1h_pkey PRIMARY KEY (tenant_id, tag_id, bucket);
ALTER TABLE public.rollup_dirty_hour DROP CONSTRAINT rollup_dirty_hour_pkey,
    ADD CONSTRAINT rollup_dirty_hour_pkey PRIMARY KEY (tenant_id, tag_id, bucket);
