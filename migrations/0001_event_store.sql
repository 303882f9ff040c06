-- The append-only event store: one table, a few functions (in the spirit of Message DB).
-- Operators query this table by hand; keep the column names stable.

CREATE TABLE events (
  global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  stream_id       text        NOT NULL,
  stream_version  bigint      NOT NULL CHECK (stream_version >= 1),
  event_id        uuid        NOT NULL,
  event_type      text        NOT NULL,
  schema_version  integer     NOT NULL CHECK (schema_version >= 1),
  data            jsonb       NOT NULL,
  metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_event_id_unique UNIQUE (event_id),
  CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);

COMMENT ON TABLE events IS 'gpu-scaler event store: append-only; UPDATE, DELETE and TRUNCATE are refused by triggers';
COMMENT ON COLUMN events.tx_id IS 'writing transaction; readers only see rows with tx_id < pg_snapshot_xmin(pg_current_snapshot()) and order by (tx_id, global_position), so an early position that commits late is never skipped';

-- Catch-up readers order by (tx_id, global_position): index exactly that. The order uses tx_id as
-- a bigint (tx_id::text::bigint), not xid8 itself: PGlite's xid8 sort order is textual ('1013' before
-- '952'), and the same SQL must be right on both backends. Comparisons with `<` are correct on both.
CREATE INDEX events_tx_order_idx ON events (((tx_id::text)::bigint), global_position);
-- Filters of `gpu-scaler events` and `explain`.
CREATE INDEX events_type_idx ON events (event_type, global_position);
CREATE INDEX events_recorded_at_idx ON events (recorded_at);

-- Append-only, enforced by the database itself.
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the events table is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'GS003',
          HINT = 'events are immutable history; record a new (compensating) event instead';
END
$$;

CREATE TRIGGER events_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Checkpoints of projections and other subscribers: a compound (tx_id, global_position),
-- updated in the same transaction as the subscriber's own rows.
CREATE TABLE projection_checkpoints (
  name            text        PRIMARY KEY,
  tx_id           xid8        NOT NULL DEFAULT '0'::xid8,
  global_position bigint      NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
