-- C2B custom orders (issue #14): product templates, storefront keys, orders with their
-- timeline and their place in the schedule, and Idempotency-Key replies. Every table carries
-- tenant_id in its primary key, unique keys and foreign keys, has row-level security like
-- V1/V5, and grants the application role what it needs. The logic lives in
-- platform/src/orders/ (pure) and store/orders*.rs.

-- A product template (orders::template::TemplateSpec as `spec`), with the MES product its work
-- orders make.
CREATE TABLE public.order_templates (
    tenant_id   integer NOT NULL DEFAULT public.current_tenant()
                REFERENCES public.tenants (id) ON DELETE CASCADE,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    code        text NOT NULL CHECK (length(code) BETWEEN 1 AND 100),
    spec        jsonb NOT NULL CHECK (jsonb_typeof(spec) = 'object'),
    product_id  bigint NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, code),
    FOREIGN KEY (tenant_id, product_id) REFERENCES public.mes_products (tenant_id, id)
);

-- A shop's credential: stored as a SHA-256 digest like API keys; it may read templates, quote,
-- place orders and read an order by its token, nothing else. Looked up on the owner's
-- connection (like logins), so the application role never reads digests.
CREATE TABLE public.storefront_keys (
    tenant_id   integer NOT NULL DEFAULT public.current_tenant()
                REFERENCES public.tenants (id) ON DELETE CASCADE,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prefix      text NOT NULL,
    key_hash    bytea NOT NULL,
    requests_per_minute integer NOT NULL DEFAULT 120 CHECK (requests_per_minute BETWEEN 1 AND 100000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, prefix),
    UNIQUE (tenant_id, key_hash)
);
CREATE INDEX storefront_keys_by_hash ON public.storefront_keys (key_hash);

-- An order. `token` is the consumer's handle on it (random, unguessable); `price` is an
-- orders::pricing::Price; the promise is the local ship date at the last line's site.
CREATE TABLE public.custom_orders (
    tenant_id          integer NOT NULL DEFAULT public.current_tenant(),
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    number             text NOT NULL,
    token              text NOT NULL CHECK (length(token) BETWEEN 20 AND 100),
    template_id        bigint NOT NULL,
    configuration      jsonb NOT NULL CHECK (jsonb_typeof(configuration) = 'object'),
    quantity           bigint NOT NULL CHECK (quantity > 0),
    price              jsonb,
    total_minor        bigint,
    currency           text NOT NULL,
    state              text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'quoted',
                           'confirmed', 'scheduled', 'in_production', 'quality_check',
                           'shipped', 'delivered', 'cancelled', 'rejected')),
    promised_date      date,
    promised_at        timestamptz,
    time_zone          text NOT NULL DEFAULT 'UTC',
    quote_valid_until  timestamptz,
    customer           jsonb NOT NULL DEFAULT '{}',
    storefront_key_id  bigint,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, number),
    UNIQUE (tenant_id, token),
    FOREIGN KEY (tenant_id, template_id) REFERENCES public.order_templates (tenant_id, id),
    FOREIGN KEY (tenant_id, storefront_key_id) REFERENCES public.storefront_keys (tenant_id, id)
        ON DELETE SET NULL (storefront_key_id)
);
CREATE INDEX ON public.custom_orders (tenant_id, state, promised_at);

-- Every transition, in order: the consumer-visible timeline (and the audit log has them too).
CREATE TABLE public.custom_order_events (
    tenant_id   integer NOT NULL DEFAULT public.current_tenant(),
    order_id    bigint NOT NULL,
    seq         integer NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    from_state  text,
    to_state    text NOT NULL,
    actor       text NOT NULL,
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    PRIMARY KEY (tenant_id, order_id, seq),
    FOREIGN KEY (tenant_id, order_id) REFERENCES public.custom_orders (tenant_id, id) ON DELETE CASCADE
);

-- An order's routing steps as scheduled: one MES work order each, on a machine of the step's
-- kind, with the planned span the finite-capacity scheduler gave it.
CREATE TABLE public.custom_order_steps (
    tenant_id      integer NOT NULL DEFAULT public.current_tenant(),
    order_id       bigint NOT NULL,
    step           integer NOT NULL CHECK (step >= 0),
    line_kind      text NOT NULL,
    machine_id     bigint NOT NULL,
    line_id        bigint NOT NULL,
    work_order_id  bigint NOT NULL,
    planned_start  timestamptz NOT NULL,
    planned_end    timestamptz NOT NULL CHECK (planned_end >= planned_start),
    machine_secs   double precision NOT NULL CHECK (machine_secs >= 0),
    PRIMARY KEY (tenant_id, order_id, step),
    FOREIGN KEY (tenant_id, order_id) REFERENCES public.custom_orders (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (machine_id, tenant_id) REFERENCES public.machines (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (line_id, tenant_id) REFERENCES public.lines (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, work_order_id) REFERENCES public.mes_work_orders (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ON public.custom_order_steps (tenant_id, machine_id, planned_end);
CREATE INDEX ON public.custom_order_steps (tenant_id, work_order_id);

-- Replies to POSTs carrying an Idempotency-Key, per storefront key: the same key and body get
-- the first reply again; the same key with another body is refused.
CREATE TABLE public.order_idempotency (
    tenant_id     integer NOT NULL DEFAULT public.current_tenant(),
    key_id        bigint NOT NULL,
    idem_key      text NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 255),
    route         text NOT NULL,
    request_hash  bytea NOT NULL,
    status        integer,
    body          jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key_id, idem_key),
    FOREIGN KEY (tenant_id, key_id) REFERENCES public.storefront_keys (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ON public.order_idempotency (tenant_id, created_at);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['order_templates', 'storefront_keys', 'custom_orders',
                             'custom_order_events', 'custom_order_steps',
                             'order_idempotency'] LOOP
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_rows ON public.%I USING (tenant_id = public.current_tenant()) '
                       'WITH CHECK (tenant_id = public.current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO millwright_app', t);
    END LOOP;
END
$$;
-- The application role lists keys but never reads their digests.
REVOKE SELECT ON public.storefront_keys FROM millwright_app;
GRANT SELECT (tenant_id, id, name, prefix, requests_per_minute, created_at, revoked_at)
    ON public.storefront_keys TO millwright_app;
