-- Citus layout (issue #18), built on the plain one: the same relations with the same columns,
-- distributed by tenant_id and co-located, so that everything one tenant owns lives in one
-- shard group on one worker and the rollup refresh runs on the workers, shard by shard.
--
-- * samples: range-partitioned by day (Citus's create_time_partitions, partitions named
--   samples_pYYYY_MM_DD), distributed by tenant_id; days older than compress_after_days are
--   converted to columnar storage (alter_old_partitions_set_access_method) by maintenance.
--   Columnar is append-only: no ON CONFLICT, UPDATE or DELETE there. Late samples for a
--   columnar day are appended to it with a plain INSERT after the ones already stored are
--   removed from the batch (ingest_commit in citus_functions.sql); retention drops whole days.
-- * rollup_1m, rollup_1h: row tables (their rows are updated by the refresh), distributed and
--   co-located with samples; keys (tenant_id, tag_id, bucket).
-- * rollup_dirty: the log of changed ranges, co-located too; the refresh claims rows, lists the
--   minutes and hours they touch (rollup_dirty_minute, rollup_dirty_hour), recomputes them with
--   co-located INSERT ... SELECT ... ON CONFLICT that Citus pushes down to every shard, then
--   deletes what it claimed.
--
-- The application role reads these tables (not only views over them): Citus runs a query's
-- shard queries on the workers as the current role, so a view owned by the owner would be
-- refused there. Row-level security on the distributed tables (propagated to every shard)
-- confines it to the transaction's tenant, which the session sets with SET LOCAL; the
-- database's citus.propagate_set_commands = 'local' carries it to the workers.

DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET citus.propagate_set_commands = %L',
                   current_database(), 'local');
END
$$;
-- statement
CREATE TABLE samples (
    time      timestamptz NOT NULL,
    tenant_id integer NOT NULL,
    tag_id    bigint NOT NULL,
    value     double precision,
    quality   smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, tag_id, time)
) PARTITION BY RANGE (time);
-- statement
SELECT create_distributed_table('samples', 'tenant_id');
-- statement
CREATE TABLE rollup_1m (
    bucket    timestamptz NOT NULL,
    tenant_id integer NOT NULL,
    tag_id    bigint NOT NULL,
    sum       double precision,
    count     bigint NOT NULL,
    min       double precision,
    max       double precision,
    last      double precision,
    last_time timestamptz,
    PRIMARY KEY (tenant_id, tag_id, bucket)
);
CREATE TABLE rollup_1h (LIKE rollup_1m INCLUDING ALL);
-- Changed ranges per tag, one row per tag per ingest batch, append-only; `claimed` marks the
-- rows a refresh is working on, so rows added meanwhile wait for the next one.
CREATE TABLE rollup_dirty (
    tenant_id  integer NOT NULL,
    tag_id     bigint NOT NULL,
    first_time timestamptz NOT NULL,
    last_time  timestamptz NOT NULL,
    claimed    boolean NOT NULL DEFAULT false
);
-- The minutes and hours a refresh recomputes, enumerated from the claimed ranges; filled and
-- drained inside each refresh (the plain layout's rollup_dirty_hour, plus minutes), so every
-- step of the refresh is a join of co-located tables that Citus runs shard by shard.
CREATE TABLE rollup_dirty_minute (
    tenant_id integer NOT NULL,
    tag_id    bigint NOT NULL,
    bucket    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, tag_id, bucket)
);
CREATE TABLE rollup_dirty_hour (LIKE rollup_dirty_minute INCLUDING ALL);
-- statement
SELECT create_distributed_table('rollup_1m', 'tenant_id', colocate_with => 'samples');
-- statement
SELECT create_distributed_table('rollup_1h', 'tenant_id', colocate_with => 'samples');
-- statement
SELECT create_distributed_table('rollup_dirty', 'tenant_id', colocate_with => 'samples');
-- statement
SELECT create_distributed_table('rollup_dirty_minute', 'tenant_id', colocate_with => 'samples');
-- statement
SELECT create_distributed_table('rollup_dirty_hour', 'tenant_id', colocate_with => 'samples');
-- statement
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['samples', 'rollup_1m', 'rollup_1h'] LOOP
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_rows ON public.%I FOR SELECT TO millwright_app '
                       'USING (tenant_id = public.current_tenant())', t);
        EXECUTE format('GRANT SELECT ON public.%I TO millwright_app', t);
    END LOOP;
END
$$;
