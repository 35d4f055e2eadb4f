-- MES core (issue #13): machine states, shift calendars, downtime reasons, products, work
-- orders, production counts. Every table carries tenant_id in its primary key, unique keys and
-- foreign keys, has row-level security like V1/V5, and grants the application role only what
-- it needs. The logic lives in platform/src/mes/ (pure) and store/mes*.rs.

-- The site's own time zone (IANA name): shift calendars and the times shown to people use it.
-- The plants this platform started with are in China.
ALTER TABLE public.sites
    ADD COLUMN time_zone text NOT NULL DEFAULT 'Asia/Shanghai'
        CHECK (length(time_zone) BETWEEN 1 AND 64);

-- How states are derived: per machine class (overriding the built-in defaults) or per
-- machine (overriding its class). `rule` is a mes::state::StateRule.
CREATE TABLE public.mes_state_rules (
    tenant_id     integer NOT NULL DEFAULT public.current_tenant()
                  REFERENCES public.tenants (id) ON DELETE CASCADE,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    machine_class text CHECK (length(machine_class) BETWEEN 1 AND 200),
    machine_id    bigint,
    rule          jsonb NOT NULL CHECK (jsonb_typeof(rule) = 'object'),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CHECK ((machine_class IS NULL) <> (machine_id IS NULL)),
    FOREIGN KEY (machine_id, tenant_id) REFERENCES public.machines (id, tenant_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX mes_state_rules_class ON public.mes_state_rules (tenant_id, machine_class)
    WHERE machine_class IS NOT NULL;
CREATE UNIQUE INDEX mes_state_rules_machine ON public.mes_state_rules (tenant_id, machine_id)
    WHERE machine_id IS NOT NULL;

-- Where the incremental state builder stands for each machine: a mes::state::Tracker (latest
-- signals, last sample time, the open interval). `restart_from` asks the next round to
-- rebuild from that time (a rule changed, or someone asked for a recomputation).
CREATE TABLE public.mes_trackers (
    tenant_id    integer NOT NULL DEFAULT public.current_tenant(),
    machine_id   bigint NOT NULL,
    tracker      jsonb NOT NULL,
    restart_from timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, machine_id),
    FOREIGN KEY (machine_id, tenant_id) REFERENCES public.machines (id, tenant_id) ON DELETE CASCADE
);

-- Closed state intervals, and each machine's open one (end_at NULL).
CREATE TABLE public.mes_state_intervals (
    tenant_id   integer NOT NULL DEFAULT public.current_tenant(),
    machine_id  bigint NOT NULL,
    start_at    timestamptz NOT NULL,
    end_at      timestamptz CHECK (end_at > start_at),
    state       text NOT NULL CHECK (state IN ('running', 'idle', 'down', 'fault', 'setup', 'unknown')),
    code        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, machine_id, start_at),
    FOREIGN KEY (machine_id, tenant_id) REFERENCES public.machines (id, tenant_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX mes_state_intervals_one_open ON public.mes_state_intervals (tenant_id, machine_id)
    WHERE end_at IS NULL;

-- Parts counted from the machines' counters, per minute (window (minute_end - 1 min, minute_end]).
CREATE TABLE public.mes_counts (
    tenant_id   integer NOT NULL DEFAULT public.current_tenant(),
    machine_id  bigint NOT NULL,
    minute_end  timestamptz NOT NULL,
    produced    bigint NOT NULL CHECK (produced >= 0),
    rejected    bigint NOT NULL CHECK (rejected >= 0),
    PRIMARY KEY (tenant_id, machine_id, minute_end),
    FOREIGN KEY (machine_id, tenant_id) REFERENCES public.machines (id, tenant_id) ON DELETE CASCADE
);

-- A site's shift calendar (mes::calendar): shifts as JSON, local days off.
CREATE TABLE public.mes_calendars (
    tenant_id   integer NOT NULL DEFAULT public.current_tenant(),
    site_id     bigint NOT NULL,
    shifts      jsonb NOT NULL CHECK (jsonb_typeof(shifts) = 'array'),
    days_off    date[] NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, site_id),
    FOREIGN KEY (site_id, tenant_id) REFERENCES public.sites (id, tenant_id) ON DELETE CASCADE
);

-- Reason codes for downtime, each in one category (mes::downtime::Category).
CREATE TABLE public.mes_reason_codes (
    tenant_id   integer NOT NULL DEFAULT public.current_tenant()
                REFERENCES public.tenants (id) ON DELETE CASCADE,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    code        text NOT NULL CHECK (length(code) BETWEEN 1 AND 50),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    category    text NOT NULL CHECK (category IN ('breakdown', 'setup', 'material_shortage',
                    'no_operator', 'quality_hold', 'planned_maintenance', 'minor_stop')),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, code)
);

-- Reasons assigned by people to spans of a machine's downtime (kept by time, so they survive
-- a recomputation of the states); two spans over one stop split it.
CREATE TABLE public.mes_downtime_reasons (
    tenant_id   integer NOT NULL DEFAULT public.current_tenant(),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    machine_id  bigint NOT NULL,
    start_at    timestamptz NOT NULL,
    end_at      timestamptz NOT NULL CHECK (end_at > start_at),
    reason_id   bigint NOT NULL,
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    assigned_by text NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (machine_id, tenant_id) REFERENCES public.machines (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, reason_id) REFERENCES public.mes_reason_codes (tenant_id, id)
);
CREATE INDEX ON public.mes_downtime_reasons (tenant_id, machine_id, start_at);

-- Products with an ideal cycle time per machine class ({"cnc": 240.0, ...}).
CREATE TABLE public.mes_products (
    tenant_id    integer NOT NULL DEFAULT public.current_tenant()
                 REFERENCES public.tenants (id) ON DELETE CASCADE,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    code         text NOT NULL CHECK (length(code) BETWEEN 1 AND 100),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    ideal_cycle  jsonb NOT NULL CHECK (jsonb_typeof(ideal_cycle) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, code)
);

-- Work orders (mes::work_order): planned → released → running → completed → closed.
CREATE TABLE public.mes_work_orders (
    tenant_id    integer NOT NULL DEFAULT public.current_tenant(),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    number       text NOT NULL CHECK (length(number) BETWEEN 1 AND 100),
    product_id   bigint NOT NULL,
    quantity     bigint NOT NULL CHECK (quantity > 0),
    machine_id   bigint NOT NULL,
    due_at       timestamptz,
    state        text NOT NULL DEFAULT 'planned' CHECK (state IN ('planned', 'released',
                     'running', 'completed', 'closed', 'cancelled')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, number),
    FOREIGN KEY (tenant_id, product_id) REFERENCES public.mes_products (tenant_id, id),
    FOREIGN KEY (machine_id, tenant_id) REFERENCES public.machines (id, tenant_id) ON DELETE CASCADE
);
-- At most one running order per machine.
CREATE UNIQUE INDEX mes_work_orders_one_running ON public.mes_work_orders (tenant_id, machine_id)
    WHERE state = 'running';

-- The time windows an order ran on its machine (one per start; end_at NULL while running).
CREATE TABLE public.mes_work_order_runs (
    tenant_id     integer NOT NULL DEFAULT public.current_tenant(),
    work_order_id bigint NOT NULL,
    start_at      timestamptz NOT NULL,
    end_at        timestamptz CHECK (end_at >= start_at),
    machine_id    bigint NOT NULL,
    PRIMARY KEY (tenant_id, work_order_id, start_at),
    FOREIGN KEY (tenant_id, work_order_id) REFERENCES public.mes_work_orders (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (machine_id, tenant_id) REFERENCES public.machines (id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX ON public.mes_work_order_runs (tenant_id, machine_id, start_at);

-- Production recorded by operators (machines without counters, rework, hand counts).
CREATE TABLE public.mes_production_records (
    tenant_id     integer NOT NULL DEFAULT public.current_tenant(),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    machine_id    bigint NOT NULL,
    work_order_id bigint,
    at            timestamptz NOT NULL,
    produced      bigint NOT NULL CHECK (produced >= 0),
    rejected      bigint NOT NULL CHECK (rejected >= 0 AND rejected <= produced),
    note          text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    recorded_by   text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (machine_id, tenant_id) REFERENCES public.machines (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, work_order_id) REFERENCES public.mes_work_orders (tenant_id, id) ON DELETE SET NULL (work_order_id)
);
CREATE INDEX ON public.mes_production_records (tenant_id, machine_id, at);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['mes_state_rules', 'mes_trackers', 'mes_state_intervals',
                             'mes_counts', 'mes_calendars', 'mes_reason_codes',
                             'mes_downtime_reasons', 'mes_products', 'mes_work_orders',
                             'mes_work_order_runs', 'mes_production_records'] LOOP
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_rows ON public.%I USING (tenant_id = public.current_tenant()) '
                       'WITH CHECK (tenant_id = public.current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO millwright_app', t);
    END LOOP;
END
$$;
