-- Issue #18, stateless replicas: background work (rollups and retention, machine states,
-- order progress, bureau contributions, scoring, alarm-rule evaluation shards) runs under a
-- named lease, so with any number of API processes each job runs in one of them at a time.
--
-- Plain tables written one row per statement, with the database's clock as the only clock:
-- no advisory lock is held across transactions, so this works unchanged through a Citus
-- coordinator (these stay local tables there). Platform-wide, not tenant data: only the
-- owner's connection reads or writes them (no grants to millwright_app).

-- One row per job: who holds it and until when. Taking an expired lease, or renewing one's
-- own, is a single INSERT ... ON CONFLICT DO UPDATE ... WHERE; `epoch` grows with every change
-- of holder, so a run can be told apart from the previous holder's.
CREATE TABLE leases (
    job          text PRIMARY KEY CHECK (length(job) BETWEEN 1 AND 100),
    holder       text NOT NULL CHECK (length(holder) BETWEEN 1 AND 200),
    epoch        bigint NOT NULL DEFAULT 1,
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    renewed_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

-- The processes taking part, seen at each of their rounds: how many share the jobs.
CREATE TABLE lease_holders (
    holder      text PRIMARY KEY CHECK (length(holder) BETWEEN 1 AND 200),
    started_at  timestamptz NOT NULL DEFAULT now(),
    seen_at     timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

-- The history of every lease: taken (from nobody or from an expired holder), released.
CREATE TABLE lease_events (
    id       bigserial PRIMARY KEY,
    job      text NOT NULL,
    holder   text NOT NULL,
    epoch    bigint NOT NULL,
    event    text NOT NULL CHECK (event IN ('acquired', 'released')),
    previous text,
    at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON lease_events (job, at);

-- Every round of a leased job: when it started and ended on the database's clock, and how.
-- A round starts only while its lease is held (checked in the same statement).
CREATE TABLE lease_runs (
    id           bigserial PRIMARY KEY,
    job          text NOT NULL,
    holder       text NOT NULL,
    epoch        bigint NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at  timestamptz,
    outcome      text CHECK (outcome IN ('ok', 'failed', 'lost'))
);
CREATE INDEX ON lease_runs (job, started_at);

-- Samples ingested by a replica that does not hold the evaluation lease of the tenant's
-- shard, waiting for the replica that does (alerting::engine). One row per ingest batch; the
-- holder deletes the rows it evaluates. Tenant data: tenant_id in the key, row security.
CREATE TABLE alarm_rule_inbox (
    tenant_id   integer NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          bigserial,
    shard       smallint NOT NULL,
    arrived_at  timestamptz NOT NULL DEFAULT now(),
    tag_ids     bigint[] NOT NULL,
    times       timestamptz[] NOT NULL,
    vals        double precision[] NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CHECK (cardinality(tag_ids) = cardinality(times) AND cardinality(times) = cardinality(vals))
);
CREATE INDEX ON alarm_rule_inbox (shard, id);
ALTER TABLE alarm_rule_inbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON alarm_rule_inbox USING (tenant_id = current_tenant())
    WITH CHECK (tenant_id = current_tenant());
