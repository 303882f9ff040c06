-- When an event happened, defined once (src/store/event-time.ts is the only place that names it):
-- the `at` every gpu-scaler event carries (ISO 8601 from the controller's clock; in the demo or a
-- simulation that clock is simulated, so recorded_at is not the time to search by), else
-- recorded_at (the commit time) for an event without a well-formed one.
--
-- IMMUTABLE for real, so it can be indexed: `(data->>'at')::timestamptz` is only STABLE (the text
-- form depends on the TimeZone and DateStyle settings, and accepts 'now'), and it raises an error
-- on '2026-02-31T…', which in an index would refuse the append. Here the fields are cut out of a
-- fixed form and added up: year, month, day, hours, minutes, seconds, microseconds, minus the
-- offset. Out-of-range fields roll over (Feb 31 = Mar 3) the way JavaScript's Date.UTC does, and
-- nothing raises. Every part is an immutable built-in, so the planner inlines the function and the
-- index below matches `event_time(data, recorded_at)` in any query. Runs on PostgreSQL 13+ and
-- PGlite (no RETURN-style SQL body, which needs 14).
CREATE OR REPLACE FUNCTION event_time(data jsonb, recorded_at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
  SELECT CASE
    WHEN data->>'at' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$'
    THEN timezone('UTC', date '2000-01-01' + make_interval(
      years => substr(data->>'at', 1, 4)::int - 2000,
      months => substr(data->>'at', 6, 2)::int - 1,
      days => substr(data->>'at', 9, 2)::int - 1,
      hours => substr(data->>'at', 12, 2)::int
        - coalesce(substring(data->>'at' from '([+-][0-9]{2})(:?[0-9]{2})?$')::int, 0),
      mins => substr(data->>'at', 15, 2)::int
        - coalesce((substring(data->>'at' from '([+-])[0-9]{2}:?[0-9]{2}$') || substring(data->>'at' from '([0-9]{2})$'))::int, 0),
      secs => substr(data->>'at', 18, 2)::int)
      + coalesce(rpad(substring(data->>'at' from '^.{19}\.([0-9]{1,6})'), 6, '0')::int, 0) * interval '1 microsecond')
    ELSE recorded_at
  END
$fn$;

-- The cycle an event of the controller stream belongs to, as a number (null when it has none or it
-- is not a whole number: never an error, so a malformed event cannot make the append fail).
CREATE OR REPLACE FUNCTION event_cycle(data jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
  SELECT CASE WHEN data->>'cycle' ~ '^[0-9]{1,18}$' THEN (data->>'cycle')::bigint END
$fn$;

-- events --since/--until, replay --until, explain --at and status: by event time.
CREATE INDEX IF NOT EXISTS events_event_time_idx ON events (event_time(data, recorded_at));
-- explain --cycle: the controller's events of a cycle, and the cycle before it.
CREATE INDEX IF NOT EXISTS events_controller_cycle_idx ON events (event_cycle(data)) WHERE stream_id = 'controller';
-- explain: the events a decision caused (the reactor's spawns and terminations).
CREATE INDEX IF NOT EXISTS events_causation_idx ON events ((metadata->>'causationId'))
  WHERE metadata->>'causationId' IS NOT NULL;

-- status: the last decision and health summary (`order by global_position desc limit 1`). A full
-- replay builds its tables `like … including all`, so they keep these indexes.
CREATE INDEX IF NOT EXISTS scaling_decisions_position_idx ON scaling_decisions (global_position);
CREATE INDEX IF NOT EXISTS health_summaries_position_idx ON health_summaries (global_position);

-- (events --type and status's last HealthChecked use events_type_idx of 0001.)

-- The text index of 0006 matched no query's expression; event_time replaces it.
DROP INDEX IF EXISTS events_data_at_idx;
