-- Issue #18, deliverable 1: keys ready for distribution by tenant.
--
-- Every tenant-owned table gets `tenant_id` first in its primary key and in every unique key,
-- and every foreign key between tenant-owned tables names `(tenant_id, x_id)` and references
-- the parent's primary key `(tenant_id, id)`. A distributed engine (Citus, distributed by
-- tenant_id) refuses primary and unique keys without the distribution column and needs it in
-- foreign keys between co-located tables; on one node the keys mean the same as before (an
-- identity `id` is unique on its own, so `(tenant_id, id)` holds exactly the rows `(id)` held)
-- and nothing is lost or renumbered. Identity columns stay (the Citus layout deals with
-- sequences).
--
-- What this migration changes (the V8–V14 tables already had this shape):
--   * primary keys `(id)` -> `(tenant_id, id)`: sites, lines, machines, tags, api_keys,
--     commands, machine_events, model_versions, training_jobs, alarms;
--   * unique keys: lines `(site_id, name)` -> `(tenant_id, site_id, name)`, machines
--     `(line_id, name)` -> `(tenant_id, line_id, name)`;
--   * foreign keys `(x_id, tenant_id) REFERENCES t (id, tenant_id)` ->
--     `(tenant_id, x_id) REFERENCES t (tenant_id, id)` (same names, same ON DELETE actions),
--     after which the old `UNIQUE (id, tenant_id)` keys they relied on are redundant and go:
--     sites, lines, machines, tags, model_versions, quality_characteristics, quality_records.
-- Samples, text samples and rollups (the storage layout, created by the platform after the
-- migrations: store/layout/) get `(tenant_id, tag_id, time|bucket)` from the layout part
-- `distribution_keys` (store/layout/keys_*.sql), for new and existing databases alike.
--
-- Platform-wide tables stay global (no tenant_id; on Citus: reference or coordinator tables):
--   tenants, storage_layout, storage_layout_parts, operator_audit_log, bureau_negative_list,
--   refinery_schema_history. Plans and the default reason codes live in code, not in tables
--   (each tenant's reason codes are its own rows in mes_reason_codes).
--
-- The auth directory is the documented exception. A credential is presented before any
-- tenant is known: an API key is looked up by its digest (authenticate_api_key), a login by
-- email across tenants, an access or refresh token by its session or digest. So:
--   * api_keys: primary key `(tenant_id, id)` like every tenant table, but its UNIQUE (prefix)
--     and UNIQUE (key_hash) stay global: a digest must name one key on the whole platform, and
--     the lookup cannot name a tenant. On Citus it is a reference (or coordinator-local) table
--     read through authenticate_api_key; keys do not move with a tenant's shard.
--   * users: tenant_id is NULL for bureau users, who belong to no tenant, so it cannot be in
--     the primary key; the key stays `(id)`, and `UNIQUE (tenant_id, id)` (was `(id, tenant_id)`)
--     stays for api_keys' `issued_by` foreign key. Emails are unique per tenant already
--     (`UNIQUE NULLS NOT DISTINCT (tenant_id, email)`).
--   * user_sessions and refresh_tokens have no tenant_id (they hang off users, looked up by
--     session id and token digest on the owner's connection).
--   * storefront_keys already has `(tenant_id, ...)` keys; its digest index is not unique.
-- platform/tests/distribution_keys.rs reads the catalog and fails on any other table with a
-- tenant_id column that lacks it in a key.

-- 1. Foreign keys that reference `(id, tenant_id)`: drop them, remembering how to re-create
--    them tenant first.
CREATE TEMP TABLE v15_foreign_keys ON COMMIT DROP AS
SELECT c.conrelid::regclass AS tbl, c.conname AS name,
       regexp_replace(pg_catalog.pg_get_constraintdef(c.oid),
                      '^FOREIGN KEY \((\w+), tenant_id\) REFERENCES ([\w.]+)\(id, tenant_id\)',
                      'FOREIGN KEY (tenant_id, \1) REFERENCES \2(tenant_id, id)') AS def
FROM pg_catalog.pg_constraint c
WHERE c.contype = 'f'
  AND c.connamespace = 'public'::regnamespace
  AND pg_catalog.pg_get_constraintdef(c.oid) ~ '^FOREIGN KEY \(\w+, tenant_id\) REFERENCES [\w.]+\(id, tenant_id\)';

DO $$
DECLARE fk record;
BEGIN
    FOR fk IN SELECT * FROM pg_temp.v15_foreign_keys LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.name);
    END LOOP;
END
$$;

-- 2. Primary keys, tenant first.
ALTER TABLE public.sites DROP CONSTRAINT sites_pkey, ADD PRIMARY KEY (tenant_id, id),
    DROP CONSTRAINT sites_id_tenant_id_key;
ALTER TABLE public.lines DROP CONSTRAINT lines_pkey, ADD PRIMARY KEY (tenant_id, id),
    DROP CONSTRAINT lines_id_tenant_id_key,
    DROP CONSTRAINT lines_site_id_name_key,
    ADD CONSTRAINT lines_tenant_id_site_id_name_key UNIQUE (tenant_id, site_id, name);
ALTER TABLE public.machines DROP CONSTRAINT machines_pkey, ADD PRIMARY KEY (tenant_id, id),
    DROP CONSTRAINT machines_id_tenant_id_key,
    DROP CONSTRAINT machines_line_id_name_key,
    ADD CONSTRAINT machines_tenant_id_line_id_name_key UNIQUE (tenant_id, line_id, name);
ALTER TABLE public.tags DROP CONSTRAINT tags_pkey, ADD PRIMARY KEY (tenant_id, id),
    DROP CONSTRAINT tags_id_tenant_id_key;
ALTER TABLE public.api_keys DROP CONSTRAINT api_keys_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE public.commands DROP CONSTRAINT commands_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE public.machine_events DROP CONSTRAINT machine_events_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE public.model_versions DROP CONSTRAINT model_versions_pkey, ADD PRIMARY KEY (tenant_id, id),
    DROP CONSTRAINT model_versions_id_tenant_id_key;
ALTER TABLE public.training_jobs DROP CONSTRAINT training_jobs_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE public.alarms DROP CONSTRAINT alarms_pkey, ADD PRIMARY KEY (tenant_id, id);
-- users keeps its primary key `(id)` (see above); its second key, which api_keys' issued_by
-- references, is spelt tenant first like the others.
ALTER TABLE public.users DROP CONSTRAINT users_id_tenant_key,
    ADD CONSTRAINT users_tenant_id_id_key UNIQUE (tenant_id, id);
ALTER TABLE public.quality_characteristics DROP CONSTRAINT quality_characteristics_id_tenant_id_key;
ALTER TABLE public.quality_records DROP CONSTRAINT quality_records_id_tenant_id_key;

-- Lookups by the parent within a tenant (the referencing side of the new foreign keys).
DROP INDEX public.lines_site_id_idx;
CREATE INDEX lines_site_id_idx ON public.lines (tenant_id, site_id);
DROP INDEX public.machines_line_id_idx;
CREATE INDEX machines_line_id_idx ON public.machines (tenant_id, line_id);
DROP INDEX public.tags_machine_id_idx;
CREATE INDEX tags_machine_id_idx ON public.tags (tenant_id, machine_id);
DROP INDEX public.commands_tag_id_idx;
CREATE INDEX commands_tag_id_idx ON public.commands (tenant_id, tag_id);
DROP INDEX public.machine_events_machine_id_at_idx;
CREATE INDEX machine_events_machine_id_at_idx ON public.machine_events (tenant_id, machine_id, at);
DROP INDEX public.alarms_machine_id_raised_at_idx;
CREATE INDEX alarms_machine_id_raised_at_idx ON public.alarms (tenant_id, machine_id, raised_at);

-- 3. The foreign keys again, tenant first, against the parents' primary keys.
DO $$
DECLARE fk record;
BEGIN
    FOR fk IN SELECT * FROM pg_temp.v15_foreign_keys LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tbl, fk.name, fk.def);
    END LOOP;
END
$$;
