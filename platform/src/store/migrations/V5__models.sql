-- Predictive maintenance: machine events (the labels), model versions, training jobs and
-- alarms. Isolated like the plant model: every table carries tenant_id (defaulting to the
-- transaction's tenant), composite foreign keys keep rows on machines of their own tenant, and
-- row-level security lets `millwright_app` (which owns nothing) reach only that tenant's rows.
-- (V4 is reserved for users, roles, plans and audit.)

-- What happened to a machine: the ground truth models learn from.
CREATE TABLE machine_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   integer NOT NULL DEFAULT current_tenant(),
    machine_id  bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('failure', 'repair', 'maintenance')),
    at          timestamptz NOT NULL,
    code        text NOT NULL DEFAULT '' CHECK (length(code) <= 200),
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (machine_id, tenant_id) REFERENCES machines (id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX ON machine_events (machine_id, at);

-- A trained model. At most one promoted version per (machine class, model kind): the one the
-- scorer runs.
CREATE TABLE model_versions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenants (id) ON DELETE CASCADE,
    machine_class text NOT NULL CHECK (length(machine_class) BETWEEN 1 AND 200),
    model_kind    text NOT NULL CHECK (model_kind IN ('anomaly', 'failure', 'rul')),
    version       integer NOT NULL,
    params        jsonb NOT NULL,
    metrics       jsonb NOT NULL,
    trained_from  timestamptz NOT NULL,
    trained_to    timestamptz NOT NULL,
    machines      bigint[] NOT NULL,
    artifact      bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    promoted      boolean NOT NULL DEFAULT false,
    UNIQUE (tenant_id, machine_class, model_kind, version),
    UNIQUE (id, tenant_id)
);
CREATE UNIQUE INDEX model_versions_one_promoted
    ON model_versions (tenant_id, machine_class, model_kind) WHERE promoted;

CREATE TABLE training_jobs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     integer NOT NULL DEFAULT current_tenant() REFERENCES tenants (id) ON DELETE CASCADE,
    request       jsonb NOT NULL,
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    progress      double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    message       text NOT NULL DEFAULT '',
    version_id    bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (version_id, tenant_id) REFERENCES model_versions (id, tenant_id) ON DELETE SET NULL (version_id)
);

-- A model's warning about a machine. At most one open (not cleared) alarm per machine and kind.
CREATE TABLE alarms (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        integer NOT NULL DEFAULT current_tenant(),
    machine_id       bigint NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('anomaly', 'failure', 'rul')),
    raised_at        timestamptz NOT NULL,
    value            double precision NOT NULL,
    threshold        double precision NOT NULL,
    model_version    bigint,
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    cleared_at       timestamptz,
    FOREIGN KEY (machine_id, tenant_id) REFERENCES machines (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (model_version, tenant_id) REFERENCES model_versions (id, tenant_id) ON DELETE SET NULL (model_version)
);
CREATE UNIQUE INDEX alarms_one_open ON alarms (tenant_id, machine_id, kind) WHERE cleared_at IS NULL;
CREATE INDEX ON alarms (machine_id, raised_at);

-- Predictions are written to tags the scorer creates; they are marked so training never
-- learns from a model's own output.
ALTER TABLE tags ADD COLUMN derived boolean NOT NULL DEFAULT false;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['machine_events', 'model_versions', 'training_jobs', 'alarms'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_rows ON %I USING (tenant_id = current_tenant()) '
                       'WITH CHECK (tenant_id = current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO millwright_app', t);
    END LOOP;
END
$$;
-- Events recorded by mistake may be removed; versions, jobs and alarms are the record.
GRANT DELETE ON machine_events TO millwright_app;
