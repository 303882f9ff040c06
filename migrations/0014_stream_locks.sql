-- Appends to a stream are ordered by a row lock only the writer can take (issue #24.2).
--
-- append_events (0002) and the plain INSERT of src/store/append.ts serialised the appends to one
-- stream with a transaction advisory lock, pg_advisory_xact_lock(2000, hashtext(stream)). Advisory
-- locks need no grant: the read-only login could hold (2000, hashtext('controller')) and every
-- cycle's append waited for it forever, silently. Now the lock is the stream's row in stream_locks:
-- `INSERT ... ON CONFLICT DO UPDATE ... WHERE false` inserts it the first time and otherwise locks it
-- without writing a new row version (PostgreSQL locks the conflicting row even when the WHERE of DO
-- UPDATE is false). That needs INSERT and UPDATE on stream_locks, which only gpu_scaler_writer has;
-- a reader cannot lock its rows (row locks need UPDATE) and the only table lock it could take there
-- would need SELECT, which it does not get either. One row per stream (a few bytes a worker).

CREATE TABLE IF NOT EXISTS stream_locks (
  stream_id text PRIMARY KEY
);
COMMENT ON TABLE stream_locks IS
  'One row per event stream, locked by every append to it until its transaction ends (appends to a stream are serialised by it). Only gpu_scaler_writer may lock it.';
REVOKE ALL ON stream_locks FROM gpu_scaler_reader;
GRANT SELECT, INSERT, UPDATE ON stream_locks TO gpu_scaler_writer;

-- append_events as in 0002, with the stream's row lock instead of the advisory lock (grants kept).
CREATE OR REPLACE FUNCTION append_events(p_stream_id text, p_expected text, p_events jsonb)
RETURNS TABLE (global_position bigint, stream_version bigint, tx_id text, duplicate boolean)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  v_count    integer := jsonb_array_length(p_events);
  v_ids      uuid[];
  v_current  bigint;
  v_inserted integer;
  v_matching integer;
BEGIN
  IF v_count = 0 THEN
    RAISE EXCEPTION 'append_events needs at least one event' USING ERRCODE = '22023';
  END IF;
  IF p_expected NOT IN ('any', 'no_stream', 'stream_exists') AND p_expected !~ '^[0-9]+$' THEN
    RAISE EXCEPTION 'unknown expected version %', p_expected USING ERRCODE = '22023';
  END IF;

  -- The stream's lock: its row in stream_locks, locked (not changed) until the transaction ends.
  INSERT INTO stream_locks AS l (stream_id) VALUES (p_stream_id)
    ON CONFLICT (stream_id) DO UPDATE SET stream_id = excluded.stream_id WHERE false;

  SELECT coalesce(max(e.stream_version), 0) INTO v_current FROM events e WHERE e.stream_id = p_stream_id;

  IF NOT ((p_expected = 'no_stream' AND v_current <> 0)
          OR (p_expected = 'stream_exists' AND v_current = 0)
          OR (p_expected ~ '^[0-9]+$' AND v_current <> p_expected::bigint)) THEN
    RETURN QUERY
      INSERT INTO events AS e (stream_id, stream_version, event_id, event_type, schema_version, data, metadata)
      SELECT p_stream_id, v_current + x.ord, (x.el->>'event_id')::uuid, x.el->>'event_type',
             (x.el->>'schema_version')::integer, x.el->'data', coalesce(x.el->'metadata', '{}'::jsonb)
        FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(el, ord)
       ORDER BY x.ord
      ON CONFLICT (event_id) DO NOTHING
      RETURNING e.global_position, e.stream_version, e.tx_id::text, false;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;
    IF v_inserted = v_count THEN
      RETURN;
    END IF;
    IF v_inserted > 0 THEN
      -- part of the batch is already stored: refuse the whole batch (the exception rolls back the rest)
      SELECT array_agg((x.el->>'event_id')::uuid) INTO v_ids FROM jsonb_array_elements(p_events) AS x(el);
      RAISE EXCEPTION 'event id reused for a different event in stream %', p_stream_id
        USING ERRCODE = 'GS002',
              DETAIL = json_build_object('stream_id', p_stream_id, 'event_ids',
                (SELECT json_agg(e.event_id) FROM events e WHERE e.event_id = ANY (v_ids)
                   AND (e.stream_id <> p_stream_id OR e.stream_version <= v_current)))::text;
    END IF;
  END IF;

  -- Nothing was written: a retry of an append that already committed, an id reused for another
  -- event, or a wrong expected version.
  SELECT array_agg((x.el->>'event_id')::uuid) INTO v_ids FROM jsonb_array_elements(p_events) AS x(el);
  SELECT count(*) FILTER (WHERE e.stream_id = p_stream_id AND e.event_type = x.el->>'event_type' AND e.data = x.el->'data')
    INTO v_matching
    FROM jsonb_array_elements(p_events) AS x(el)
    JOIN events e ON e.event_id = (x.el->>'event_id')::uuid
   WHERE e.event_id = ANY (v_ids);
  IF v_matching = v_count THEN
    RETURN QUERY
      SELECT e.global_position, e.stream_version, e.tx_id::text, true
        FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(el, ord)
        JOIN events e ON e.event_id = (x.el->>'event_id')::uuid
       WHERE e.event_id = ANY (v_ids)
       ORDER BY x.ord;
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM events e WHERE e.event_id = ANY (v_ids)) THEN
    RAISE EXCEPTION 'event id reused for a different event in stream %', p_stream_id
      USING ERRCODE = 'GS002',
            DETAIL = json_build_object('stream_id', p_stream_id, 'event_ids',
              (SELECT json_agg(e.event_id) FROM events e WHERE e.event_id = ANY (v_ids)))::text;
  END IF;
  RAISE EXCEPTION 'wrong expected version for stream %: expected %, actual %', p_stream_id, p_expected, v_current
    USING ERRCODE = 'GS001',
          DETAIL = json_build_object('stream_id', p_stream_id, 'expected', p_expected, 'actual', v_current)::text;
END
$$;
