-- A pool's conditions as they stand (src/store/queries.ts lastConditionChanges, read by `status` for
-- every pool and by each pool's cycle): the last ConditionChanged of each condition type of one
-- pool. Read backwards on events_type_idx it stopped at the first match, but a condition a pool
-- never had was looked for through every pool's ConditionChanged (36 ms a pool at 360,000 events of
-- 100 pools, growing with the record). Here it is one probe: the expressions are the query's own.
CREATE INDEX IF NOT EXISTS events_condition_changes_idx
  ON events ((coalesce(data->>'pool', 'default')), (data->>'type'), global_position)
  WHERE event_type = 'ConditionChanged';
