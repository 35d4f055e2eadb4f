-- Text samples, TimescaleDB layout: a hypertable like `samples` (1-day chunks), compressed
-- after {compress_after_days} days (segmented by tenant and tag) and dropped after
-- {retention_days} days. No continuous aggregates: bucketed reads of text (last, count) come
-- from raw samples. Like `samples`, no row-level security and no grant: the application reads
-- it only through the `tenant_text_samples` view. `-- statement` separates statements, which
-- are run one at a time.

CREATE TABLE text_samples (
    time      timestamptz NOT NULL,
    tenant_id integer NOT NULL,
    tag_id    bigint NOT NULL,
    value     text,
    quality   smallint NOT NULL DEFAULT 0
);
-- statement
SELECT create_hypertable('text_samples', by_range('time', INTERVAL '1 day'));
-- statement
CREATE UNIQUE INDEX text_samples_tag_time ON text_samples (tag_id, time);
-- statement
ALTER TABLE text_samples SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'tenant_id, tag_id',
    timescaledb.compress_orderby = 'time'
);
-- statement
SELECT add_compression_policy('text_samples', compress_after => INTERVAL '{compress_after_days} days');
-- statement
SELECT add_retention_policy('text_samples', drop_after => INTERVAL '{retention_days} days');
-- statement
CREATE FUNCTION ingest_commit_text() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    SET jit = off
    AS $$
    DECLARE
        tenant integer := public.current_tenant();
        inserted bigint;
    BEGIN
        IF tenant IS NULL THEN
            RAISE EXCEPTION 'millwright.tenant_id is not set' USING ERRCODE = '42501';
        END IF;
        WITH inserted_rows AS (
            INSERT INTO public.text_samples (time, tenant_id, tag_id, value, quality)
            SELECT s.time, tenant, s.tag_id, s.value, s.quality
            FROM pg_temp.ingest_staging_text s
            WHERE s.tag_id IN (SELECT t.id FROM public.tags t
                               WHERE t.tenant_id = tenant AND t.value_type = 'text')
            ON CONFLICT DO NOTHING
            RETURNING 1
        )
        SELECT count(*) INTO inserted FROM inserted_rows;
        RETURN inserted;
    END
    $$;
