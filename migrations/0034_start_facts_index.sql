-- status's starts of the window (src/projections/parking-queries.ts startFactsBetween): the worker
-- starts and activations of the last hour by event time. Through events_event_time_idx that read
-- every event of the hour (35,000 with 100 pools) to keep the one in ten that is a start; this index
-- holds only those. The type list is the query's own, so the planner knows the index covers it.
CREATE INDEX IF NOT EXISTS events_start_facts_idx ON events (event_time(data, recorded_at))
  WHERE event_type IN ('WorkerSpawnRequested', 'WorkerUnparked', 'WorkerUnparkRefused', 'WorkerActivated');
