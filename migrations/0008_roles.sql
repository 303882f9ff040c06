-- Least privilege: two group roles (NOLOGIN) the operator's login users are granted.
--
--   gpu_scaler_writer  what the service needs and nothing more: read and append events (never
--                      global_position, tx_id or recorded_at: those columns are the database's),
--                      write the projections, checkpoints and system_logs (insert, and delete for
--                      retention), read and update tasks (the demo queue the simulated workers
--                      claim), read schema_migrations. No UPDATE, DELETE or TRUNCATE on events, no
--                      DDL, no trigger changes: it owns nothing.
--   gpu_scaler_reader  SELECT on the tables an operator queries; what `gpu-scaler sql` runs as.
--
-- The migrating user (the owner of the tables) keeps everything; the service connects as a login
-- in gpu_scaler_writer, `gpu-scaler sql` as a login in gpu_scaler_reader (README: "Production
-- setup"). Advisory locks, LISTEN/NOTIFY, pg_current_snapshot() and the identity columns'
-- sequences need no grant.
--
-- Roles are cluster-wide; the grants are per schema, so this file applies in every schema and
-- database it is run in: a role is created only when missing (needs CREATEROLE or superuser the
-- first time in a cluster), the grants are repeated for the schema at hand.
--
-- THE RULE for a later migration that adds a table: grant gpu_scaler_writer exactly what the
-- service does with it, in the same file (GRANT SELECT, INSERT ... ON new_table TO
-- gpu_scaler_writer). The default privileges below give both roles SELECT on tables the migrating
-- user creates in this schema later, nothing else. A full `gpu-scaler replay` copies a projection
-- table's grants to the table it swaps in.

DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['gpu_scaler_writer', 'gpu_scaler_reader'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION
        -- another schema or database of this cluster created it at the same moment
        WHEN duplicate_object OR unique_violation THEN NULL;
        WHEN insufficient_privilege THEN
          RAISE EXCEPTION 'the role % does not exist and % may not create it', r, current_user
            USING HINT = 'as a superuser run: CREATE ROLE gpu_scaler_writer NOLOGIN; CREATE ROLE gpu_scaler_reader NOLOGIN; '
                         '(or give the migrating user CREATEROLE), then run gpu-scaler migrate again';
      END;
    END IF;
  END LOOP;

  EXECUTE format('GRANT USAGE ON SCHEMA %I TO gpu_scaler_writer, gpu_scaler_reader', current_schema());
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO gpu_scaler_writer, gpu_scaler_reader',
                 current_schema());

  -- The migrating user may `SET ROLE gpu_scaler_reader` (how `gpu-scaler sql` reads with
  -- DATABASE_URL naming the owner); a superuser needs no membership.
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
     AND NOT pg_has_role(current_user, 'gpu_scaler_reader', 'MEMBER') THEN
    BEGIN
      EXECUTE format('GRANT gpu_scaler_reader TO %I', current_user);
    EXCEPTION
      WHEN insufficient_privilege THEN
        RAISE NOTICE '% is not a member of gpu_scaler_reader and may not become one: gpu-scaler sql needs READ_DATABASE_URL', current_user;
      WHEN OTHERS THEN
        -- a concurrent grant of the same membership ("tuple concurrently updated"); it is there now
        IF NOT pg_has_role(current_user, 'gpu_scaler_reader', 'MEMBER') THEN RAISE; END IF;
    END;
  END IF;
END
$$;

-- The reader: the tables of the README's queries, and what `gpu-scaler sql` itself reads
-- (checkpoints for the projections' lag, schema_migrations to know the store is migrated).
GRANT SELECT ON events, workers, scaling_decisions, anomalies, health_summaries, system_logs, tasks,
                projection_checkpoints, schema_migrations
   TO gpu_scaler_reader;

-- The writer.
GRANT SELECT ON events TO gpu_scaler_writer;
GRANT INSERT (stream_id, stream_version, event_id, event_type, schema_version, data, metadata) ON events
   TO gpu_scaler_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON workers, scaling_decisions, anomalies, health_summaries, projection_checkpoints
   TO gpu_scaler_writer;
GRANT SELECT, INSERT, DELETE ON system_logs TO gpu_scaler_writer;
GRANT SELECT, UPDATE ON tasks TO gpu_scaler_writer;
GRANT SELECT ON schema_migrations TO gpu_scaler_writer;

-- append_events inserts as its caller (SECURITY INVOKER), within the writer's column grants.
REVOKE ALL ON FUNCTION append_events(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_events(text, text, jsonb) TO gpu_scaler_writer;
