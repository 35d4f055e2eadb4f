-- The industry bureau view (issue #16): what each tenant shares per category (replacing the
-- single opt-in flag), the platform's negative list, each tenant's daily contributions to the
-- sector indices, and the one function through which bureaus read them: aggregated cells of
-- shared, non-negative-listed categories, never a tenant's own rows.

-- A company's size class (EU SME classes by employees).
ALTER TABLE public.tenants
    ADD COLUMN size_class text NOT NULL DEFAULT 'unknown'
        CHECK (size_class IN ('unknown', 'micro', 'small', 'medium', 'large'));
GRANT UPDATE (size_class) ON public.tenants TO millwright_app;

-- The categories a tenant shares; none by default.
CREATE TABLE public.bureau_sharing (
    tenant_id  integer NOT NULL DEFAULT public.current_tenant()
               REFERENCES public.tenants (id) ON DELETE CASCADE,
    category   text NOT NULL CHECK (category IN ('utilisation', 'output', 'oee', 'downtime',
                   'alarms', 'energy', 'quality')),
    since      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, category)
);

-- The old flag meant "share everything"; it becomes every category, and goes.
INSERT INTO public.bureau_sharing (tenant_id, category)
SELECT t.id, c.category
FROM public.tenants t
CROSS JOIN unnest(ARRAY['utilisation', 'output', 'oee', 'downtime', 'alarms', 'energy',
                        'quality']) AS c (category)
WHERE t.sector_opt_in;
ALTER TABLE public.tenants DROP COLUMN sector_opt_in;

-- Platform-wide: categories and tag-name patterns never shared, whatever a tenant says. The
-- platform writes it from its settings at start; everyone may read it.
CREATE TABLE public.bureau_negative_list (
    kind     text NOT NULL CHECK (kind IN ('category', 'tag')),
    pattern  text NOT NULL CHECK (length(pattern) BETWEEN 1 AND 200),
    PRIMARY KEY (kind, pattern)
);
GRANT SELECT ON public.bureau_negative_list TO millwright_app;

-- A tenant's contribution to one index on one site-local day: a numerator and a denominator
-- (bureau::index::contributions), computed from its MES figures, alarms and energy rollups.
CREATE TABLE public.bureau_contributions (
    tenant_id   integer NOT NULL DEFAULT public.current_tenant()
                REFERENCES public.tenants (id) ON DELETE CASCADE,
    metric      text NOT NULL CHECK (metric IN ('utilisation', 'operating_rate', 'oee', 'output',
                    'downtime_rate', 'alarm_rate', 'quality_rate', 'energy_intensity')),
    day         date NOT NULL,
    num         double precision NOT NULL CHECK (num >= 0),
    den         double precision NOT NULL CHECK (den > 0),
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, metric, day)
);
CREATE INDEX bureau_contributions_metric_day ON public.bureau_contributions (metric, day);

-- The last day whose contributions are computed, per tenant.
CREATE TABLE public.bureau_watermarks (
    tenant_id   integer NOT NULL DEFAULT public.current_tenant()
                REFERENCES public.tenants (id) ON DELETE CASCADE,
    through     date NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['bureau_sharing', 'bureau_contributions', 'bureau_watermarks'] LOOP
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_rows ON public.%I USING (tenant_id = public.current_tenant()) '
                       'WITH CHECK (tenant_id = public.current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO millwright_app', t);
    END LOOP;
END
$$;

-- The bureau's only way in: cells of the sector x region table with the totals (GROUPING
-- SETS), per index and period, over the contributions of tenants that share the index's
-- category, when the negative list does not name it. Each cell gives its contributor count,
-- its sums and its three largest contributions (for the dominance rule), never who. Tenants
-- without a sector (industry 'other') or region are outside the table. Only callers outside
-- every tenant (bureau requests) get rows. The API applies disclosure control to the cells.
CREATE FUNCTION public.bureau_cells(metrics text[], from_day date, to_day date, period text,
                                    size text)
    RETURNS TABLE (metric text, period_start date, sector text, region text, n integer,
                   num double precision, den double precision,
                   top_num double precision[], top_den double precision[])
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
        WITH shared AS (
            SELECT c.tenant_id, c.metric,
                   pg_catalog.date_trunc(period, c.day::timestamp)::date AS period_start,
                   c.num, c.den
            FROM public.bureau_contributions c
            JOIN public.bureau_sharing s
              ON s.tenant_id = c.tenant_id
             AND s.category = CASE c.metric
                    WHEN 'utilisation' THEN 'utilisation'
                    WHEN 'operating_rate' THEN 'utilisation'
                    WHEN 'oee' THEN 'oee'
                    WHEN 'output' THEN 'output'
                    WHEN 'downtime_rate' THEN 'downtime'
                    WHEN 'alarm_rate' THEN 'alarms'
                    WHEN 'quality_rate' THEN 'quality'
                    WHEN 'energy_intensity' THEN 'energy' END
            WHERE public.current_tenant() IS NULL
              AND period IN ('day', 'week', 'month')
              AND c.metric = ANY (metrics)
              AND c.day BETWEEN from_day AND to_day
              AND NOT EXISTS (SELECT 1 FROM public.bureau_negative_list nl
                              WHERE nl.kind = 'category' AND nl.pattern = s.category)
        ), per_tenant AS (
            SELECT sh.metric, sh.period_start, t.industry AS sector, t.region, sh.tenant_id,
                   sum(sh.num) AS num, sum(sh.den) AS den
            FROM shared sh
            JOIN public.tenants t ON t.id = sh.tenant_id
            WHERE t.industry <> 'other' AND t.region <> ''
              AND (size IS NULL OR t.size_class = size)
            GROUP BY sh.metric, sh.period_start, t.industry, t.region, sh.tenant_id
        )
        SELECT p.metric, p.period_start,
               CASE WHEN GROUPING(p.sector) = 0 THEN p.sector END,
               CASE WHEN GROUPING(p.region) = 0 THEN p.region END,
               count(*)::integer, sum(p.num), sum(p.den),
               (array_agg(p.num ORDER BY p.num DESC))[1:3],
               (array_agg(p.den ORDER BY p.den DESC))[1:3]
        FROM per_tenant p
        GROUP BY GROUPING SETS ((p.metric, p.period_start, p.sector, p.region),
                                (p.metric, p.period_start, p.sector),
                                (p.metric, p.period_start, p.region),
                                (p.metric, p.period_start))
    $$;
REVOKE ALL ON FUNCTION public.bureau_cells(text[], date, date, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.bureau_cells(text[], date, date, text, text) TO millwright_app;

-- Which sectors and regions the table has (for the bureau's index list): distinct values
-- only, over tenants that share anything.
CREATE FUNCTION public.bureau_places()
    RETURNS TABLE (sector text, region text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
        SELECT DISTINCT t.industry, t.region
        FROM public.tenants t
        WHERE public.current_tenant() IS NULL
          AND t.industry <> 'other' AND t.region <> ''
          AND EXISTS (SELECT 1 FROM public.bureau_sharing s WHERE s.tenant_id = t.id)
    $$;
REVOKE ALL ON FUNCTION public.bureau_places() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.bureau_places() TO millwright_app;
