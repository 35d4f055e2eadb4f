-- Who may see and do what: tenants' industry, region and plan; users, sessions and refresh
-- tokens; roles on API keys and device tokens; daily usage against the plan's quotas; and the
-- hash-chained audit log.
--
-- The application role still owns nothing. It reads credentials only through security-definer
-- functions that return one row for one presented secret, and it can append to the audit log
-- but never change or delete an entry (a trigger refuses it even to the owner, and the hash
-- chain shows it if someone removes the trigger).

ALTER TABLE tenants
    ADD COLUMN industry text NOT NULL DEFAULT 'other'
        CHECK (industry IN ('appliance', 'garment', 'machinery', 'other')),
    ADD COLUMN region text NOT NULL DEFAULT '' CHECK (length(region) <= 100),
    ADD COLUMN plan text NOT NULL DEFAULT 'monitor' CHECK (plan IN ('monitor', 'mes', 'pro')),
    -- Whether the tenant's figures may enter a bureau's sector aggregates (a later issue).
    ADD COLUMN sector_opt_in boolean NOT NULL DEFAULT false;

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL for bureau users, who belong to no tenant.
    tenant_id     integer REFERENCES tenants (id) ON DELETE CASCADE,
    email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
    name          text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    role          text NOT NULL CHECK (role IN ('owner', 'admin', 'engineer', 'operator', 'viewer', 'bureau')),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz,
    CHECK ((role = 'bureau') = (tenant_id IS NULL)),
    UNIQUE (email)
);
CREATE INDEX ON users (tenant_id);

-- One row per login; logout and refresh-token reuse revoke it, which also ends its access
-- tokens at their next request.
CREATE TABLE user_sessions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE refresh_tokens (
    digest     bytea PRIMARY KEY,
    session_id bigint NOT NULL REFERENCES user_sessions (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX ON refresh_tokens (session_id);

-- Keys issued before roles existed keep the rights they had.
ALTER TABLE api_keys
    ADD COLUMN role text NOT NULL DEFAULT 'admin'
        CHECK (role IN ('owner', 'admin', 'engineer', 'operator', 'viewer', 'device')),
    ADD COLUMN last_used_at timestamptz;
-- Tenant admins list and revoke their own keys through the app role.
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON api_keys USING (tenant_id = current_tenant())
    WITH CHECK (tenant_id = current_tenant());
ALTER TABLE api_keys ALTER COLUMN tenant_id SET DEFAULT current_tenant();
GRANT SELECT (id, tenant_id, name, prefix, role, created_at, expires_at, revoked_at, last_used_at),
      INSERT (name, prefix, key_hash, role, expires_at),
      UPDATE (revoked_at)
   ON api_keys TO millwright_app;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON users USING (tenant_id = current_tenant())
    WITH CHECK (tenant_id = current_tenant());
ALTER TABLE users ALTER COLUMN tenant_id SET DEFAULT current_tenant();
GRANT SELECT (id, tenant_id, email, name, role, created_at, disabled_at),
      INSERT (email, name, role, password_hash),
      UPDATE (name, role, disabled_at, password_hash),
      DELETE
   ON users TO millwright_app;

-- The tenant's own settings: owners change the plan, region and opt-in through the app role.
GRANT UPDATE (industry, region, plan, sector_opt_in) ON tenants TO millwright_app;

DROP FUNCTION authenticate_api_key(bytea);
CREATE FUNCTION authenticate_api_key(digest bytea)
    RETURNS TABLE (tenant_id integer, key_id bigint, role text, plan text, prefix text)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        WITH k AS (
            SELECT k.tenant_id, k.id, k.role, t.plan, k.prefix, k.last_used_at
            FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
            WHERE k.key_hash = digest
              AND k.revoked_at IS NULL
              AND (k.expires_at IS NULL OR k.expires_at > now())
        ), touched AS (
            -- At most once a minute: a busy connector must not turn every request into a
            -- write on one hot row.
            UPDATE api_keys SET last_used_at = now()
            WHERE id = (SELECT id FROM k)
              AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        )
        SELECT tenant_id, id, role, plan, prefix FROM k
    $$;
REVOKE ALL ON FUNCTION authenticate_api_key(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION authenticate_api_key(bytea) TO millwright_app;

-- Login: the one row for an email, with the hash to verify in the application (argon2 is
-- too slow to run inside the database's connection).
CREATE FUNCTION login_lookup(login_email text)
    RETURNS TABLE (user_id bigint, tenant_id integer, role text, password_hash text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT u.id, u.tenant_id, u.role, u.password_hash FROM users u
        WHERE u.email = lower(login_email) AND u.disabled_at IS NULL
    $$;

-- Each access token names its session: whether it still stands, and the tenant's plan now.
CREATE FUNCTION session_state(session bigint, user_id bigint)
    RETURNS TABLE (active boolean, plan text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT s.revoked_at IS NULL AND u.disabled_at IS NULL, t.plan
        FROM user_sessions s
        JOIN users u ON u.id = s.user_id
        LEFT JOIN tenants t ON t.id = u.tenant_id
        WHERE s.id = session AND s.user_id = session_state.user_id
    $$;

CREATE FUNCTION open_session(user_id bigint, digest bytea, expires timestamptz)
    RETURNS bigint
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        WITH s AS (INSERT INTO user_sessions (user_id) VALUES (open_session.user_id) RETURNING id),
             r AS (INSERT INTO refresh_tokens (digest, session_id, expires_at)
                   SELECT open_session.digest, id, expires FROM s)
        SELECT id FROM s
    $$;

-- Refresh: marks the presented token used (only once, even under concurrent refreshes) and
-- stores its successor. Reuse of a used token revokes the whole session. Returns the
-- verdict and, when it is 'rotate', the session's user.
CREATE FUNCTION rotate_refresh_token(presented bytea, successor bytea, expires timestamptz)
    RETURNS TABLE (verdict text, session_id bigint, user_id bigint, tenant_id integer, role text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
    DECLARE
        r record;
    BEGIN
        SELECT rt.session_id, rt.expires_at, rt.used_at, s.revoked_at, u.id AS uid,
               u.tenant_id AS tid, u.role AS urole, u.disabled_at
          INTO r
          FROM refresh_tokens rt
          JOIN user_sessions s ON s.id = rt.session_id
          JOIN users u ON u.id = s.user_id
         WHERE rt.digest = presented
           FOR UPDATE OF rt;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'unknown'::text, NULL::bigint, NULL::bigint, NULL::integer, NULL::text;
            RETURN;
        END IF;
        IF r.revoked_at IS NOT NULL OR r.disabled_at IS NOT NULL THEN
            RETURN QUERY SELECT 'revoked'::text, r.session_id, r.uid, r.tid, r.urole;
        ELSIF r.used_at IS NOT NULL THEN
            UPDATE user_sessions SET revoked_at = now() WHERE id = r.session_id;
            RETURN QUERY SELECT 'reused'::text, r.session_id, r.uid, r.tid, r.urole;
        ELSIF r.expires_at <= now() THEN
            RETURN QUERY SELECT 'expired'::text, r.session_id, r.uid, r.tid, r.urole;
        ELSE
            UPDATE refresh_tokens SET used_at = now() WHERE digest = presented;
            INSERT INTO refresh_tokens (digest, session_id, expires_at)
                VALUES (successor, r.session_id, expires);
            RETURN QUERY SELECT 'rotate'::text, r.session_id, r.uid, r.tid, r.urole;
        END IF;
    END
    $$;

CREATE FUNCTION close_session(session bigint, user_id bigint)
    RETURNS boolean
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        UPDATE user_sessions SET revoked_at = coalesce(revoked_at, now())
        WHERE id = session AND user_sessions.user_id = close_session.user_id
        RETURNING true
    $$;

DO $$
DECLARE f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['login_lookup(text)', 'session_state(bigint, bigint)',
                             'open_session(bigint, bytea, timestamptz)',
                             'rotate_refresh_token(bytea, bytea, timestamptz)',
                             'close_session(bigint, bigint)'] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO millwright_app', f);
    END LOOP;
END
$$;

-- Consumption per tenant and UTC day. The app role reads its own rows and adds to them only
-- through usage_add_samples(), so a tenant cannot lower its own count.
CREATE TABLE usage_daily (
    tenant_id integer NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day       date NOT NULL,
    samples   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);
ALTER TABLE usage_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON usage_daily USING (tenant_id = current_tenant());
GRANT SELECT ON usage_daily TO millwright_app;

CREATE FUNCTION usage_add_samples(n bigint)
    RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        INSERT INTO usage_daily (tenant_id, day, samples)
        SELECT current_tenant(), (now() AT TIME ZONE 'UTC')::date, n
        WHERE current_tenant() IS NOT NULL AND n > 0
        ON CONFLICT (tenant_id, day) DO UPDATE SET samples = usage_daily.samples + excluded.samples
    $$;
REVOKE ALL ON FUNCTION usage_add_samples(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION usage_add_samples(bigint) TO millwright_app;

-- The audit log. `seq` counts from 1 per tenant; `hash` = SHA-256(prev_hash ‖ canonical
-- entry), computed by millwright-tenants so that `millwright audit verify` recomputes it
-- from the stored columns alone.
CREATE TABLE audit_log (
    tenant_id integer NOT NULL DEFAULT current_tenant() REFERENCES tenants (id) ON DELETE CASCADE,
    seq       bigint NOT NULL CHECK (seq >= 1),
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    target    text NOT NULL,
    before    jsonb,
    after     jsonb,
    prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash      bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (tenant_id, seq)
);
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON audit_log USING (tenant_id = current_tenant())
    WITH CHECK (tenant_id = current_tenant());
GRANT SELECT, INSERT ON audit_log TO millwright_app;

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
