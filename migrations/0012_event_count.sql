-- `gpu-scaler status` shows how many events the store holds. count(*) over events reads every row
-- (linear in history: about 60 ms a million on a server, and a full scan in PGlite). Instead the
-- count is kept as a subscriber's checkpoint: the row `event-count` of projection_checkpoints holds
-- how many events were committed up to its (tx_id, global_position), and status adds only the
-- events after it, then moves it (src/store/event-count.ts). In projection_checkpoints, so
-- resetting the checkpoints after a logical restore (README: Backups) resets the count with them.
ALTER TABLE projection_checkpoints ADD COLUMN IF NOT EXISTS events bigint;

COMMENT ON COLUMN projection_checkpoints.events IS
  'Only for event-count: how many events were committed up to this checkpoint (null for every other subscriber).';
COMMENT ON TABLE projection_checkpoints IS
  'The checkpoint of every catch-up subscriber: projection:<name> for each projection, reactor for the reactor, event-count for the count status shows. One compound (tx_id, global_position) per subscriber, advanced in the same transaction as its work.';
COMMENT ON COLUMN projection_checkpoints.name IS
  'The subscriber: projection:<name> (a projection), reactor (the reactor) or event-count (the number of events, in events).';
