-- explain --cycle of any pool (issue #25): a pool's controller events of one cycle, its last cycle
-- and the cycle before one. events_controller_cycle_idx (0009) is partial on stream_id = 'controller'
-- (pool default's) and served no other pool: `controller@<pool>` was read through the whole stream,
-- decoding every event's data for its cycle (hundreds of ms a pool at 10 million events). This index
-- serves every stream, pool default's included, so it replaces that one. Partial on a cycle being
-- there: `event_cycle(data) = $1` and `< $1` imply it; a query for the highest cycle says it.
CREATE INDEX IF NOT EXISTS events_stream_cycle_idx ON events (stream_id, event_cycle(data))
  WHERE event_cycle(data) IS NOT NULL;
DROP INDEX IF EXISTS events_controller_cycle_idx;
