-- Security (issue #11).
--
-- 1. Every SECURITY DEFINER function of V1–V5 again, with `pg_temp` last in its search_path and
--    every name schema-qualified. Without `pg_temp` in the list PostgreSQL searches a
--    session's temporary schema first, so the application role could put a temporary
--    `usage_daily` (with a trigger) or `tags` in front of ours and have the owner run its code
--    or file samples on another tenant's tag. The layout's functions are fixed in
--    store/layout/*_functions.sql, re-applied by the layout upgrade (LAYOUT_VERSION 2).
-- 2. Credential changes take effect at once: a user's role, password, enabling or disabling
--    bumps `credential_generation`, which ends every session opened before (access and
--    refresh tokens alike); API keys act with no more than their issuer's current role, and a
--    removed user's keys are revoked; device tokens may be scoped to one site; setpoint
--    commands expire.
-- 3. Logins are checked on the owner's connection: the application role reads no password
--    hash at all (login_lookup is gone) and can no longer open a session for any user it
--    names (open_session is the owner's alone).

-- The site a device token is scoped to, set per transaction beside the tenant; NULL for every
-- other caller.
CREATE FUNCTION public.current_site() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(pg_catalog.current_setting('millwright.site_id', true), '')::bigint $$;

-- The tags a tenant's ingest may write: all of its own, or only one site's. Called by the
-- layouts' ingest_commit (as the owner, so spelled out rather than left to row-level security).
CREATE FUNCTION public.allowed_ingest_tags(tenant integer, site bigint) RETURNS TABLE (id bigint)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, public, pg_temp
    AS $$
        SELECT t.id FROM public.tags t WHERE t.tenant_id = tenant AND site IS NULL
        UNION ALL
        SELECT t.id FROM public.tags t
        JOIN public.machines m ON m.id = t.machine_id AND m.tenant_id = t.tenant_id
        JOIN public.lines l ON l.id = m.line_id AND l.tenant_id = m.tenant_id
        WHERE t.tenant_id = tenant AND l.site_id = site
    $$;
REVOKE ALL ON FUNCTION public.allowed_ingest_tags(integer, bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION public.usage_add_samples(n bigint)
    RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
        INSERT INTO public.usage_daily AS u (tenant_id, day, samples)
        SELECT public.current_tenant(), (now() AT TIME ZONE 'UTC')::date, n
        WHERE public.current_tenant() IS NOT NULL AND n > 0
        ON CONFLICT (tenant_id, day) DO UPDATE SET samples = u.samples + excluded.samples
    $$;

CREATE OR REPLACE FUNCTION public.close_session(session bigint, user_id bigint)
    RETURNS boolean
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
        UPDATE public.user_sessions s SET revoked_at = coalesce(s.revoked_at, now())
        WHERE s.id = session AND s.user_id = close_session.user_id
        RETURNING true
    $$;


-- 2. Credentials ------------------------------------------------------------------------------

ALTER TABLE public.users ADD COLUMN credential_generation bigint NOT NULL DEFAULT 0;
ALTER TABLE public.users ADD CONSTRAINT users_id_tenant_key UNIQUE (id, tenant_id);
ALTER TABLE public.user_sessions ADD COLUMN generation bigint NOT NULL DEFAULT 0;
GRANT SELECT (credential_generation) ON public.users TO millwright_app;

-- Not a definer: it only changes the row being updated, as whoever updates it.
CREATE FUNCTION public.users_credentials_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
    AS $$
    BEGIN
        IF NEW.role IS DISTINCT FROM OLD.role
           OR NEW.password_hash IS DISTINCT FROM OLD.password_hash
           OR NEW.disabled_at IS DISTINCT FROM OLD.disabled_at
           OR NEW.email IS DISTINCT FROM OLD.email THEN
            NEW.credential_generation := OLD.credential_generation + 1;
        ELSE
            NEW.credential_generation := OLD.credential_generation;
        END IF;
        RETURN NEW;
    END
    $$;
CREATE TRIGGER credentials_changed BEFORE UPDATE ON public.users
    FOR EACH ROW EXECUTE FUNCTION public.users_credentials_changed();

-- Who issued a key (NULL: the command line, the demo or the operator), and the one site a
-- device token may reach (NULL: the whole tenant).
ALTER TABLE public.api_keys
    ADD COLUMN issued_by bigint,
    ADD COLUMN site_id bigint,
    ADD FOREIGN KEY (issued_by, tenant_id) REFERENCES public.users (id, tenant_id)
        ON DELETE SET NULL (issued_by),
    ADD FOREIGN KEY (site_id, tenant_id) REFERENCES public.sites (id, tenant_id)
        ON DELETE CASCADE,
    ADD CHECK (site_id IS NULL OR role = 'device');
CREATE INDEX ON public.api_keys (issued_by) WHERE issued_by IS NOT NULL;
GRANT SELECT (issued_by, site_id), INSERT (issued_by, site_id) ON public.api_keys TO millwright_app;

-- Removing a user revokes the keys they issued (their role no longer bounds them). Not a
-- definer: it runs as whoever deletes the user, within that tenant's rows.
CREATE FUNCTION public.users_revoke_issued_keys() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
    AS $$
    BEGIN
        UPDATE public.api_keys SET revoked_at = now()
        WHERE issued_by = OLD.id AND tenant_id = OLD.tenant_id AND revoked_at IS NULL;
        RETURN OLD;
    END
    $$;
CREATE TRIGGER revoke_issued_keys BEFORE DELETE ON public.users
    FOR EACH ROW EXECUTE FUNCTION public.users_revoke_issued_keys();

DROP FUNCTION public.authenticate_api_key(bytea);
CREATE FUNCTION public.authenticate_api_key(digest bytea)
    RETURNS TABLE (tenant_id integer, key_id bigint, role text, plan text, prefix text,
                   site_id bigint, issued_by bigint, issuer_role text, issuer_active boolean)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
        WITH k AS (
            SELECT k.tenant_id, k.id, k.role, t.plan, k.prefix, k.last_used_at, k.site_id,
                   k.issued_by, u.role AS issuer_role, u.disabled_at IS NULL AS issuer_active
            FROM public.api_keys k
            JOIN public.tenants t ON t.id = k.tenant_id
            LEFT JOIN public.users u ON u.id = k.issued_by AND u.tenant_id = k.tenant_id
            WHERE k.key_hash = digest
              AND k.revoked_at IS NULL
              AND (k.expires_at IS NULL OR k.expires_at > now())
        ), touched AS (
            -- At most once a minute: a busy connector must not turn every request into a
            -- write on one hot row.
            UPDATE public.api_keys a SET last_used_at = now()
            WHERE a.id = (SELECT k.id FROM k)
              AND (a.last_used_at IS NULL OR a.last_used_at < now() - interval '1 minute')
        )
        SELECT k.tenant_id, k.id, k.role, k.plan, k.prefix, k.site_id, k.issued_by,
               k.issuer_role, k.issuer_active
        FROM k
    $$;
REVOKE ALL ON FUNCTION public.authenticate_api_key(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.authenticate_api_key(bytea) TO millwright_app;

DROP FUNCTION public.login_lookup(text);

-- Each access token names its session: whether it still stands (not revoked, user enabled,
-- no credential change since it opened), the user's role now and the tenant's plan now.
DROP FUNCTION public.session_state(bigint, bigint);
CREATE FUNCTION public.session_state(session bigint, user_id bigint)
    RETURNS TABLE (active boolean, plan text, role text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
        SELECT s.revoked_at IS NULL AND u.disabled_at IS NULL
                   AND s.generation = u.credential_generation,
               t.plan, u.role
        FROM public.user_sessions s
        JOIN public.users u ON u.id = s.user_id
        LEFT JOIN public.tenants t ON t.id = u.tenant_id
        WHERE s.id = session AND s.user_id = session_state.user_id
    $$;
REVOKE ALL ON FUNCTION public.session_state(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.session_state(bigint, bigint) TO millwright_app;

-- Called on the owner's connection by a login that checked the password; the application
-- role may not open sessions for users it names.
CREATE OR REPLACE FUNCTION public.open_session(user_id bigint, digest bytea, expires timestamptz)
    RETURNS bigint
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
        WITH s AS (INSERT INTO public.user_sessions (user_id, generation)
                   SELECT u.id, u.credential_generation FROM public.users u
                   WHERE u.id = open_session.user_id
                   RETURNING id),
             r AS (INSERT INTO public.refresh_tokens (digest, session_id, expires_at)
                   SELECT open_session.digest, s.id, expires FROM s)
        SELECT s.id FROM s
    $$;
REVOKE ALL ON FUNCTION public.open_session(bigint, bytea, timestamptz) FROM PUBLIC, millwright_app;

-- Refresh: marks the presented token used (only once, even under concurrent refreshes) and
-- stores its successor. Reuse of a used token revokes the whole session; a credential change
-- since the session opened refuses it.
CREATE OR REPLACE FUNCTION public.rotate_refresh_token(presented bytea, successor bytea, expires timestamptz)
    RETURNS TABLE (verdict text, session_id bigint, user_id bigint, tenant_id integer, role text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
    DECLARE
        r record;
    BEGIN
        SELECT rt.session_id, rt.expires_at, rt.used_at, s.revoked_at, u.id AS uid,
               u.tenant_id AS tid, u.role AS urole, u.disabled_at,
               s.generation <> u.credential_generation AS stale
          INTO r
          FROM public.refresh_tokens rt
          JOIN public.user_sessions s ON s.id = rt.session_id
          JOIN public.users u ON u.id = s.user_id
         WHERE rt.digest = presented
           FOR UPDATE OF rt;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'unknown'::text, NULL::bigint, NULL::bigint, NULL::integer, NULL::text;
            RETURN;
        END IF;
        IF r.revoked_at IS NOT NULL OR r.disabled_at IS NOT NULL OR r.stale THEN
            RETURN QUERY SELECT 'revoked'::text, r.session_id, r.uid, r.tid, r.urole;
        ELSIF r.used_at IS NOT NULL THEN
            UPDATE public.user_sessions SET revoked_at = now() WHERE id = r.session_id;
            RETURN QUERY SELECT 'reused'::text, r.session_id, r.uid, r.tid, r.urole;
        ELSIF r.expires_at <= now() THEN
            RETURN QUERY SELECT 'expired'::text, r.session_id, r.uid, r.tid, r.urole;
        ELSE
            UPDATE public.refresh_tokens SET used_at = now() WHERE digest = presented;
            INSERT INTO public.refresh_tokens (digest, session_id, expires_at)
                VALUES (successor, r.session_id, expires);
            RETURN QUERY SELECT 'rotate'::text, r.session_id, r.uid, r.tid, r.urole;
        END IF;
    END
    $$;

-- Device tokens scoped to a site see only that site's part of the plant model and its
-- commands. Restrictive: they narrow `tenant_rows`, never widen it. No recursion: each policy
-- reads only the table above it.
CREATE POLICY device_site ON public.sites AS RESTRICTIVE
    USING (public.current_site() IS NULL OR id = public.current_site());
CREATE POLICY device_site ON public.lines AS RESTRICTIVE
    USING (public.current_site() IS NULL OR site_id = public.current_site());
CREATE POLICY device_site ON public.machines AS RESTRICTIVE
    USING (public.current_site() IS NULL OR line_id IN (SELECT l.id FROM public.lines l));
CREATE POLICY device_site ON public.tags AS RESTRICTIVE
    USING (public.current_site() IS NULL OR machine_id IN (SELECT m.id FROM public.machines m));
CREATE POLICY device_site ON public.commands AS RESTRICTIVE
    USING (public.current_site() IS NULL OR tag_id IN (SELECT t.id FROM public.tags t));

-- Setpoint commands expire: a value nobody claimed in time is never written (a connector
-- back after an hour must not move a machine to what someone wanted an hour ago).
ALTER TABLE public.commands
    ADD COLUMN expires_at timestamptz NOT NULL DEFAULT now() + interval '5 minutes',
    DROP CONSTRAINT commands_status_check,
    ADD CONSTRAINT commands_status_check
        CHECK (status IN ('pending', 'delivered', 'done', 'failed', 'expired'));
CREATE INDEX commands_pending_expiry ON public.commands (tenant_id, expires_at) WHERE status = 'pending';

-- 4. The audit log ---------------------------------------------------------------------------

-- The canonical format each entry was hashed in: 1 for entries stored before (numbers as
-- serde_json writes them, which jsonb rewrites), 2 from now on (numbers spelt as jsonb gives
-- them back). Covered by the hash itself through its `"v"` field.
ALTER TABLE public.audit_log ADD COLUMN format smallint NOT NULL DEFAULT 1 CHECK (format IN (1, 2));

-- The platform operator's own chain: tenants created or discarded, bureau users, refused
-- logins of accounts outside any tenant. Written on the owner's connection only; the
-- application role has no grant on it. Hashed like a tenant's chain, as tenant 0.
CREATE TABLE public.operator_audit_log (
    seq       bigint PRIMARY KEY CHECK (seq >= 1),
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    target    text NOT NULL,
    before    jsonb,
    after     jsonb,
    prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash      bytea NOT NULL CHECK (length(hash) = 32),
    format    smallint NOT NULL CHECK (format IN (1, 2))
);
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON public.operator_audit_log
    FOR EACH ROW EXECUTE FUNCTION public.audit_log_is_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON public.operator_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION public.audit_log_is_append_only();

-- 5. Emails are unique within a tenant (and among bureau users), not across the platform:
-- refusing an address because another tenant uses it told every admin which addresses exist
-- elsewhere. A login whose email and password match accounts in several tenants names the
-- tenant (`tenant_id`).
ALTER TABLE public.users DROP CONSTRAINT users_email_key;
ALTER TABLE public.users ADD CONSTRAINT users_tenant_email_key UNIQUE NULLS NOT DISTINCT (tenant_id, email);
CREATE INDEX users_email ON public.users (email);
