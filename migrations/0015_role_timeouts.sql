-- Bounds on what an open transaction of another session can hold (issue #24.2).
--
-- Catch-up readers only read events of transactions older than every open transaction that could
-- write events (src/store/event-store.ts READ_HORIZON_SQL): an open transaction of a login that may
-- not insert into events (the reader), or of another database, no longer holds anything back. A
-- session that may write still can, so the roles get timeouts: an idle open transaction ends after
-- idle_in_transaction_session_timeout, a reader's statement after statement_timeout.
--
-- PostgreSQL applies ALTER ROLE ... SET to sessions that log in as that role, not to members of it,
-- so the settings go on the group roles and on their present login members (best effort: that needs
-- CREATEROLE or superuser; without it a NOTICE says what to run). They are defaults a session may
-- change: a bound on accidents (a psql left in BEGIN), not on a hostile login; the horizon above is
-- what keeps the reader from holding anything back. A login made later needs the same ALTER ROLE.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT m.rolname::text AS role, g.rolname::text AS grp
      FROM pg_roles g
      JOIN pg_auth_members am ON am.roleid = g.oid
      JOIN pg_roles m ON m.oid = am.member
     WHERE g.rolname IN ('gpu_scaler_writer', 'gpu_scaler_reader') AND m.rolcanlogin AND NOT m.rolsuper
    UNION ALL
    SELECT rolname::text, rolname::text FROM pg_roles WHERE rolname IN ('gpu_scaler_writer', 'gpu_scaler_reader')
  LOOP
    BEGIN
      IF r.grp = 'gpu_scaler_reader' THEN
        EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', r.role, '10s');
        EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', r.role, '60s');
      ELSE
        EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', r.role, '60s');
      END IF;
    EXCEPTION
      WHEN insufficient_privilege THEN
        RAISE NOTICE '% may not change the settings of role %: as a superuser run ALTER ROLE % SET idle_in_transaction_session_timeout = %',
          current_user, r.role, r.role, CASE WHEN r.grp = 'gpu_scaler_reader' THEN '''10s''' ELSE '''60s''' END;
      WHEN OTHERS THEN
        -- a concurrent ALTER ROLE of another schema's migration ("tuple concurrently updated")
        NULL;
    END;
  END LOOP;
END
$$;
