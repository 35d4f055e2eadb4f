-- Tenants, their API keys and the plant model (sites > lines > machines > tags).
--
-- Isolation is enforced here, not only in Rust: the application connects as `millwright_app`,
-- a role that owns nothing, sets `millwright.tenant_id` per transaction, and row-level security
-- lets it reach only that tenant's rows. Composite foreign keys (id, tenant_id) make it
-- impossible to hang one tenant's machine under another tenant's line.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'millwright_app') THEN
        CREATE ROLE millwright_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created concurrently by a migration of another database on this server
END
$$;

CREATE FUNCTION current_tenant() RETURNS integer
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('millwright.tenant_id', true), '')::integer $$;

CREATE TABLE tenants (
    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Keys are random and long, so a SHA-256 digest is enough to store them safely; only the
-- prefix is kept in clear so an operator can tell keys apart.
CREATE TABLE api_keys (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  integer NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       text NOT NULL,
    prefix     text NOT NULL UNIQUE,
    key_hash   bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);

CREATE TABLE sites (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   integer NOT NULL DEFAULT current_tenant() REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    UNIQUE (id, tenant_id)
);

CREATE TABLE lines (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   integer NOT NULL DEFAULT current_tenant(),
    site_id     bigint NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, name),
    UNIQUE (id, tenant_id),
    FOREIGN KEY (site_id, tenant_id) REFERENCES sites (id, tenant_id) ON DELETE CASCADE
);

CREATE TABLE machines (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   integer NOT NULL DEFAULT current_tenant(),
    line_id     bigint NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (line_id, name),
    UNIQUE (id, tenant_id),
    FOREIGN KEY (line_id, tenant_id) REFERENCES lines (id, tenant_id) ON DELETE CASCADE
);

-- Tag names are unique within a tenant so connectors can address them by name.
CREATE TABLE tags (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   integer NOT NULL DEFAULT current_tenant(),
    machine_id  bigint NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    unit        text NOT NULL DEFAULT '',
    value_type  text NOT NULL DEFAULT 'float' CHECK (value_type IN ('float', 'integer', 'boolean')),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    UNIQUE (id, tenant_id),
    FOREIGN KEY (machine_id, tenant_id) REFERENCES machines (id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX ON lines (site_id);
CREATE INDEX ON machines (line_id);
CREATE INDEX ON tags (machine_id);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_self ON tenants USING (id = current_tenant());

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sites', 'lines', 'machines', 'tags'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_rows ON %I USING (tenant_id = current_tenant()) '
                       'WITH CHECK (tenant_id = current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO millwright_app', t);
    END LOOP;
END
$$;
GRANT SELECT ON tenants TO millwright_app;

-- The one way the application role learns which tenant a key belongs to. It sees no other
-- column of api_keys and cannot list keys.
CREATE FUNCTION authenticate_api_key(digest bytea)
    RETURNS TABLE (tenant_id integer, key_id bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT k.tenant_id, k.id FROM api_keys k
        WHERE k.key_hash = digest
          AND k.revoked_at IS NULL
          AND (k.expires_at IS NULL OR k.expires_at > now())
    $$;
REVOKE ALL ON FUNCTION authenticate_api_key(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION authenticate_api_key(bytea) TO millwright_app;
