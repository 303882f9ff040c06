-- append_events(stream, expected, events): the only way events are written.
--
-- p_expected: 'any' | 'no_stream' | 'stream_exists' | '<n>' (the stream's current version).
-- p_events:   a JSON array of {event_id, event_type, schema_version, data, metadata}.
--
-- One call is one atomic batch. Appends to one stream are serialised by a transaction-scoped
-- advisory lock on the stream, so 'any' never fails on a race and exact versions are checked
-- against what is really committed. Retrying a batch whose event ids are already stored (with the
-- same stream, types and data) writes nothing and returns the original positions; a different event
-- under a used id is refused.
--
-- The common case costs one index probe per event: the batch is inserted with ON CONFLICT
-- (event_id) DO NOTHING, and the stored events are only looked at when something did not insert
-- or the version did not match. It sends no NOTIFY: a NOTIFY holds a database-wide lock through
-- commit and serialised concurrent appenders (measured: 0.27x of raw INSERTs with 8 writers); the
-- client sends a wake-up after its commit instead.
--
-- Errors (SQLSTATE): GS001 wrong expected version, GS002 event id reused for a different event.
-- Their DETAIL is JSON the client turns into typed errors.
CREATE FUNCTION append_events(p_stream_id text, p_expected text, p_events jsonb)
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

  -- 2000 namespaces gpu-scaler's stream locks (the migrator and the leader use other keys).
  PERFORM pg_advisory_xact_lock(2000, hashtext(p_stream_id));

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
