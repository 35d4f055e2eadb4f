-- Setpoint commands: the platform issues a value for a tag, a connector claims it, writes it to
-- the device and reports the outcome. Statuses move pending → delivered → done | failed.
--
-- Isolated exactly like the plant model: the composite foreign key keeps a command on a tag
-- of its own tenant, and row-level security lets the application role reach only the rows of
-- the transaction's tenant. The role may not delete commands: they are the record of what was
-- written to machines (they go with their tag).
CREATE TABLE commands (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   integer NOT NULL DEFAULT current_tenant(),
    tag_id      bigint NOT NULL,
    value       double precision NOT NULL,
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'delivered', 'done', 'failed')),
    detail      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tag_id, tenant_id) REFERENCES tags (id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX ON commands (tag_id);
CREATE INDEX commands_pending ON commands (tenant_id, id) WHERE status = 'pending';

ALTER TABLE commands ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON commands USING (tenant_id = current_tenant())
    WITH CHECK (tenant_id = current_tenant());
GRANT SELECT, INSERT, UPDATE ON commands TO millwright_app;
