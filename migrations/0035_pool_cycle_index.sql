-- explain's events of a pool's cycle on its other streams (src/store/event-queries.ts eventsBetween
-- with a cycle: health, anomalies, the workers' events the cycle's sync wrote). Through
-- events_event_time_idx that read every event of the cycle's window, of every pool (2,600 with 100
-- pools), to keep the two of one pool: `explain --cycle N` of 100 pools read 100 times that. This
-- index finds a pool's events of one cycle directly. Controller streams are left out (they are
-- found by events_stream_cycle_idx; the query says so too, so the planner knows the index covers it).
CREATE INDEX IF NOT EXISTS events_pool_cycle_idx ON events (coalesce(data->>'pool', 'default'), (metadata->>'cycle'))
  WHERE stream_id NOT LIKE 'controller%';
