-- Quality (issue #15): quality records per unit or batch, characteristics with specification
-- limits and a baseline period, measured values, incrementally kept yield and defect-code
-- figures, SPC alarms in the existing alarms table, and defect models in the existing model
-- lifecycle.
--
-- Isolated like every tenant-owned table: tenant_id (defaulting to the transaction's tenant)
-- leads every primary key and unique key, foreign keys are composite so a row can only point
-- at its own tenant's machine, line, characteristic or model version, and row-level security
-- lets `millwright_app` reach only the transaction's tenant.

-- Something measured on units (a dimension, a weight) or a tag charted as it is sampled.
CREATE TABLE public.quality_characteristics (
    tenant_id      integer NOT NULL DEFAULT public.current_tenant()
                   REFERENCES public.tenants (id) ON DELETE CASCADE,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    unit           text NOT NULL DEFAULT '' CHECK (length(unit) <= 50),
    -- NULL: the values recorded with quality records under `name`; else this tag's samples.
    tag_id         bigint,
    lsl            double precision,
    usl            double precision,
    target         double precision,
    chart          text NOT NULL DEFAULT 'i_mr' CHECK (chart IN ('i_mr', 'xbar_r', 'xbar_s')),
    subgroup_size  integer NOT NULL DEFAULT 1 CHECK (subgroup_size BETWEEN 1 AND 25),
    rules          text NOT NULL DEFAULT 'western_electric'
                   CHECK (rules IN ('western_electric', 'nelson', 'limits_only')),
    -- The period whose points give the control limits (a time when the process was stable).
    baseline_from  timestamptz,
    baseline_to    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name),
    UNIQUE (id, tenant_id),
    CHECK (lsl IS NULL OR usl IS NULL OR lsl < usl),
    CHECK ((chart = 'i_mr') = (subgroup_size = 1)),
    CHECK (baseline_from IS NULL OR baseline_to IS NULL OR baseline_from < baseline_to),
    FOREIGN KEY (tag_id, tenant_id) REFERENCES public.tags (id, tenant_id) ON DELETE CASCADE
);

-- One inspected unit (serial) or batch. Line and parameters are the platform's, not typed in:
-- the line is the machine's, the parameters the averages of the machine's float tags over the
-- unit's cycle.
CREATE TABLE public.quality_records (
    tenant_id        integer NOT NULL DEFAULT public.current_tenant()
                     REFERENCES public.tenants (id) ON DELETE CASCADE,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    unit_id          text NOT NULL CHECK (length(unit_id) BETWEEN 1 AND 200),
    batch            boolean NOT NULL DEFAULT false,
    quantity         integer NOT NULL DEFAULT 1 CHECK (quantity BETWEEN 1 AND 1000000),
    product          text NOT NULL CHECK (length(product) BETWEEN 1 AND 200),
    work_order       text NOT NULL DEFAULT '' CHECK (length(work_order) <= 200),
    line_id          bigint NOT NULL,
    machine_id       bigint NOT NULL,
    cycle_started_at timestamptz NOT NULL,
    produced_at      timestamptz NOT NULL,
    day              date NOT NULL,
    shift            text NOT NULL DEFAULT '' CHECK (length(shift) <= 100),
    passed           boolean NOT NULL,
    reworked         boolean NOT NULL DEFAULT false,
    defect_code      text NOT NULL DEFAULT '' CHECK (length(defect_code) <= 100),
    parameters       jsonb NOT NULL DEFAULT '{}',
    defect_probability   double precision,
    defect_alarming      boolean,
    defect_model_version bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, unit_id),
    UNIQUE (id, tenant_id),
    CHECK (cycle_started_at <= produced_at),
    FOREIGN KEY (machine_id, tenant_id) REFERENCES public.machines (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (line_id, tenant_id) REFERENCES public.lines (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (defect_model_version, tenant_id) REFERENCES public.model_versions (id, tenant_id)
        ON DELETE SET NULL (defect_model_version)
);
CREATE INDEX ON public.quality_records (tenant_id, produced_at);
CREATE INDEX ON public.quality_records (tenant_id, machine_id, produced_at);

-- Values measured on a record's unit, one per characteristic.
CREATE TABLE public.quality_measurements (
    tenant_id         integer NOT NULL DEFAULT public.current_tenant(),
    characteristic_id bigint NOT NULL,
    record_id         bigint NOT NULL,
    machine_id        bigint NOT NULL,
    at                timestamptz NOT NULL,
    value             double precision NOT NULL,
    PRIMARY KEY (tenant_id, characteristic_id, record_id),
    FOREIGN KEY (characteristic_id, tenant_id)
        REFERENCES public.quality_characteristics (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (record_id, tenant_id) REFERENCES public.quality_records (id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX ON public.quality_measurements (tenant_id, characteristic_id, at);

-- Yield figures kept current in each insert's transaction: units, first-pass, reworked and
-- scrapped per day, machine (and its line), product, work order and shift.
CREATE TABLE public.quality_yield_daily (
    tenant_id   integer NOT NULL DEFAULT public.current_tenant()
                REFERENCES public.tenants (id) ON DELETE CASCADE,
    day         date NOT NULL,
    machine_id  bigint NOT NULL,
    line_id     bigint NOT NULL,
    product     text NOT NULL,
    work_order  text NOT NULL,
    shift       text NOT NULL,
    units       bigint NOT NULL,
    first_pass  bigint NOT NULL,
    reworked    bigint NOT NULL,
    scrapped    bigint NOT NULL,
    PRIMARY KEY (tenant_id, day, machine_id, product, work_order, shift),
    FOREIGN KEY (machine_id, tenant_id) REFERENCES public.machines (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (line_id, tenant_id) REFERENCES public.lines (id, tenant_id) ON DELETE CASCADE
);

-- Defective units per defect code on the same keys: the Pareto's source.
CREATE TABLE public.quality_defects_daily (
    tenant_id   integer NOT NULL DEFAULT public.current_tenant()
                REFERENCES public.tenants (id) ON DELETE CASCADE,
    day         date NOT NULL,
    machine_id  bigint NOT NULL,
    line_id     bigint NOT NULL,
    product     text NOT NULL,
    work_order  text NOT NULL,
    shift       text NOT NULL,
    defect_code text NOT NULL,
    units       bigint NOT NULL,
    PRIMARY KEY (tenant_id, day, machine_id, product, work_order, shift, defect_code),
    FOREIGN KEY (machine_id, tenant_id) REFERENCES public.machines (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (line_id, tenant_id) REFERENCES public.lines (id, tenant_id) ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['quality_characteristics', 'quality_records', 'quality_measurements',
                             'quality_yield_daily', 'quality_defects_daily'] LOOP
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_rows ON public.%I USING (tenant_id = public.current_tenant()) '
                       'WITH CHECK (tenant_id = public.current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON public.%I TO millwright_app', t);
    END LOOP;
END
$$;
-- Characteristics are configuration: engineers may remove one (its measurements go with it).
GRANT DELETE ON public.quality_characteristics TO millwright_app;

-- A new allowed value in a `col IN (...)` check, whatever values migrations before this one
-- (or beside it, numbered lower) allowed: the constraint is rewritten from its own definition.
CREATE FUNCTION pg_temp.allow_value(tbl text, con text, val text) RETURNS void
    LANGUAGE plpgsql AS $$
    DECLARE def text;
    BEGIN
        SELECT pg_catalog.pg_get_constraintdef(c.oid) INTO def FROM pg_catalog.pg_constraint c
        WHERE c.conrelid = ('public.' || tbl)::regclass AND c.conname = con;
        IF def IS NULL OR position(quote_literal(val) IN def) > 0 THEN
            RETURN;
        END IF;
        def := replace(def, 'ARRAY[', 'ARRAY[' || quote_literal(val) || '::text, ');
        EXECUTE format('ALTER TABLE public.%I DROP CONSTRAINT %I', tbl, con);
        EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I %s', tbl, con, def);
    END
    $$;

-- Defect models go through the same training-job / version / promotion lifecycle (their
-- machine_class is the machine class whose records they learn from).
SELECT pg_temp.allow_value('model_versions', 'model_versions_model_kind_check', 'defect');

-- SPC alarms: kind 'spc', one open per characteristic and rule (the rule as `set:number`,
-- e.g. `western_electric:2`), on the machine that made the point completing the pattern.
SELECT pg_temp.allow_value('alarms', 'alarms_kind_check', 'spc');
SELECT pg_temp.allow_value('alarms', 'alarms_kind_check', 'defect');
ALTER TABLE public.alarms
    ADD COLUMN characteristic_id bigint,
    ADD COLUMN spc_rule text CHECK (length(spc_rule) <= 100),
    ADD FOREIGN KEY (characteristic_id, tenant_id)
        REFERENCES public.quality_characteristics (id, tenant_id) ON DELETE CASCADE,
    ADD CONSTRAINT alarms_spc_fields
        CHECK ((kind = 'spc') = (characteristic_id IS NOT NULL AND spc_rule IS NOT NULL));
-- The models' rule (one open alarm per machine and kind) does not hold for SPC alarms: the
-- index keeps whatever predicate it has and leaves them out.
DO $$
DECLARE pred text;
BEGIN
    SELECT pg_catalog.pg_get_expr(i.indpred, i.indrelid) INTO pred FROM pg_catalog.pg_index i
    WHERE i.indexrelid = 'public.alarms_one_open'::regclass;
    DROP INDEX public.alarms_one_open;
    EXECUTE format('CREATE UNIQUE INDEX alarms_one_open ON public.alarms (tenant_id, machine_id, kind) '
                   'WHERE (%s) AND kind <> %L', coalesce(pred, 'true'), 'spc');
END
$$;
CREATE UNIQUE INDEX alarms_one_open_spc ON public.alarms (tenant_id, characteristic_id, spc_rule)
    WHERE cleared_at IS NULL AND kind = 'spc';
DROP FUNCTION pg_temp.allow_value(text, text, text);
