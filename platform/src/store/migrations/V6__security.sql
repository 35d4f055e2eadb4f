-- Security (issue #11).
--
-- 1. Every SECURITY DEFINER function of V1–V5 again, with `pg_temp` last in its search_path and
--    every name schema-qualified. Without `pg_temp` in the list PostgreSQL searches a
--    session's temporary schema first, so the application role could put a temporary
--    `usage_daily` (with a trigger) or `tags` in front of ours and have the owner run its code
--    or file samples on another tenant's tag. The layout's functions are fixed in
--    store/layout/*_functions.sql, re-applied by the layout upgrade (LAYOUT_VERSION 2).

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

CREATE OR REPLACE FUNCTION public.authenticate_api_key(digest bytea)
    RETURNS TABLE (tenant_id integer, key_id bigint, role text, plan text, prefix text)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
        WITH k AS (
            SELECT k.tenant_id, k.id, k.role, t.plan, k.prefix, k.last_used_at
            FROM public.api_keys k JOIN public.tenants t ON t.id = k.tenant_id
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
        SELECT k.tenant_id, k.id, k.role, k.plan, k.prefix FROM k
    $$;

CREATE OR REPLACE FUNCTION public.login_lookup(login_email text)
    RETURNS TABLE (user_id bigint, tenant_id integer, role text, password_hash text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
        SELECT u.id, u.tenant_id, u.role, u.password_hash FROM public.users u
        WHERE u.email = lower(login_email) AND u.disabled_at IS NULL
    $$;

CREATE OR REPLACE FUNCTION public.session_state(session bigint, user_id bigint)
    RETURNS TABLE (active boolean, plan text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
        SELECT s.revoked_at IS NULL AND u.disabled_at IS NULL, t.plan
        FROM public.user_sessions s
        JOIN public.users u ON u.id = s.user_id
        LEFT JOIN public.tenants t ON t.id = u.tenant_id
        WHERE s.id = session AND s.user_id = session_state.user_id
    $$;

CREATE OR REPLACE FUNCTION public.open_session(user_id bigint, digest bytea, expires timestamptz)
    RETURNS bigint
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
        WITH s AS (INSERT INTO public.user_sessions (user_id) VALUES (open_session.user_id) RETURNING id),
             r AS (INSERT INTO public.refresh_tokens (digest, session_id, expires_at)
                   SELECT open_session.digest, s.id, expires FROM s)
        SELECT s.id FROM s
    $$;

CREATE OR REPLACE FUNCTION public.rotate_refresh_token(presented bytea, successor bytea, expires timestamptz)
    RETURNS TABLE (verdict text, session_id bigint, user_id bigint, tenant_id integer, role text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
    AS $$
    DECLARE
        r record;
    BEGIN
        SELECT rt.session_id, rt.expires_at, rt.used_at, s.revoked_at, u.id AS uid,
               u.tenant_id AS tid, u.role AS urole, u.disabled_at
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
        IF r.revoked_at IS NOT NULL OR r.disabled_at IS NOT NULL THEN
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
