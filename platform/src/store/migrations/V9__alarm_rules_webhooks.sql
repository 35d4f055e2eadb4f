-- Issue #13, alarm rules: rules on tags, their evaluation checkpoints, rule alarms beside the
-- models' alarms (with shelving), and per-tenant webhooks fed by an outbox written in the same
-- transaction as each change. Isolated like every tenant table: tenant_id in every key and
-- foreign key, row-level security, grants to millwright_app.

-- A rule watches one tag (tag_id) or every tag whose name ends with `.<tag_suffix>`
-- (optionally only on machines of one kind), e.g. every machine's `barrel_temp`.
CREATE TABLE alarm_rules (
    id             bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id      integer NOT NULL DEFAULT current_tenant() REFERENCES tenants (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    tag_id         bigint,
    tag_suffix     text CHECK (length(tag_suffix) BETWEEN 1 AND 200),
    machine_kind   text CHECK (length(machine_kind) BETWEEN 1 AND 200),
    condition      jsonb NOT NULL,
    on_delay_secs  integer NOT NULL DEFAULT 0 CHECK (on_delay_secs BETWEEN 0 AND 86400),
    severity       text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    message        text NOT NULL CHECK (length(message) BETWEEN 1 AND 500),
    enabled        boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name),
    CHECK ((tag_id IS NULL) <> (tag_suffix IS NULL)),
    FOREIGN KEY (tag_id, tenant_id) REFERENCES tags (id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX ON alarm_rules (tenant_id, tag_id);

-- The evaluator's checkpoint: the state machine of each (rule, tag), so a restart resumes
-- on-delays and hysteresis instead of raising again.
CREATE TABLE alarm_rule_states (
    tenant_id   integer NOT NULL DEFAULT current_tenant(),
    rule_id     bigint NOT NULL,
    tag_id      bigint NOT NULL,
    state       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, rule_id, tag_id),
    FOREIGN KEY (tenant_id, rule_id) REFERENCES alarm_rules (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tag_id, tenant_id) REFERENCES tags (id, tenant_id) ON DELETE CASCADE
);

-- Rule alarms share the models' table: kind 'rule', the rule and tag that raised them, a
-- severity and a rendered message. Shelving hides an alarm from the active list and silences
-- its notifications until shelved_until; a rule alarm raised again while its predecessor's
-- shelf runs inherits it.
ALTER TABLE alarms DROP CONSTRAINT alarms_kind_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_kind_check
    CHECK (kind IN ('anomaly', 'failure', 'rul', 'rule'));
ALTER TABLE alarms
    ADD COLUMN rule_id       bigint,
    ADD COLUMN tag_id        bigint,
    ADD COLUMN severity      text CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    ADD COLUMN message       text CHECK (length(message) <= 2000),
    ADD COLUMN shelved_until timestamptz,
    ADD COLUMN shelved_by    text CHECK (length(shelved_by) <= 500),
    ADD COLUMN shelve_reason text CHECK (length(shelve_reason) <= 500),
    ADD CONSTRAINT alarms_rule_fk FOREIGN KEY (tenant_id, rule_id)
        REFERENCES alarm_rules (tenant_id, id) ON DELETE SET NULL (rule_id),
    ADD CONSTRAINT alarms_tag_fk FOREIGN KEY (tag_id, tenant_id)
        REFERENCES tags (id, tenant_id) ON DELETE SET NULL (tag_id);
DROP INDEX alarms_one_open;
CREATE UNIQUE INDEX alarms_one_open ON alarms (tenant_id, machine_id, kind)
    WHERE cleared_at IS NULL AND kind <> 'rule';
CREATE UNIQUE INDEX alarms_one_open_per_rule ON alarms (tenant_id, rule_id, machine_id)
    WHERE cleared_at IS NULL AND kind = 'rule';
CREATE INDEX ON alarms (tenant_id, rule_id, machine_id, raised_at);

-- Webhook endpoints. The secret signs deliveries (HMAC needs the secret itself, so it cannot
-- be stored as a digest like API keys). It is shown once when created; the application role
-- may write it but not read it back (column grants below): only the sender, on the owner's
-- connection, reads it to sign.
CREATE TABLE webhook_endpoints (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id    integer NOT NULL DEFAULT current_tenant() REFERENCES tenants (id) ON DELETE CASCADE,
    url          text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    event_types  text[] NOT NULL,
    enabled      boolean NOT NULL DEFAULT true,
    secret       text NOT NULL,
    secret_hint  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- The outbox: one row per event, written in the transaction of the change it reports.
CREATE TABLE webhook_events (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenants (id) ON DELETE CASCADE,
    event_type  text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ON webhook_events (created_at);

-- One row per (event, endpoint) to deliver, and per redelivery asked for.
CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id        integer NOT NULL DEFAULT current_tenant(),
    endpoint_id      bigint NOT NULL,
    event_id         bigint NOT NULL,
    redelivery_of    bigint,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz DEFAULT now(),
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, event_id) REFERENCES webhook_events (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX ON webhook_deliveries (tenant_id, endpoint_id, id);

-- Every attempt of a delivery, for the delivery log.
CREATE TABLE webhook_attempts (
    tenant_id    integer NOT NULL,
    delivery_id  bigint NOT NULL,
    attempt      integer NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    error        text,
    duration_ms  integer NOT NULL,
    PRIMARY KEY (tenant_id, delivery_id, attempt),
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['alarm_rules', 'alarm_rule_states', 'webhook_endpoints',
                             'webhook_events', 'webhook_deliveries', 'webhook_attempts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_rows ON %I USING (tenant_id = current_tenant()) '
                       'WITH CHECK (tenant_id = current_tenant())', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON alarm_rules, alarm_rule_states TO millwright_app;
GRANT SELECT (id, tenant_id, url, description, event_types, enabled, secret_hint, created_at, updated_at),
      INSERT (url, description, event_types, enabled, secret, secret_hint),
      UPDATE (url, description, event_types, enabled, updated_at),
      DELETE
   ON webhook_endpoints TO millwright_app;
GRANT SELECT, INSERT ON webhook_events, webhook_deliveries TO millwright_app;
GRANT SELECT ON webhook_attempts TO millwright_app;
