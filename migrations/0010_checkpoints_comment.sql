-- projection_checkpoints holds the checkpoint of every catch-up subscriber, not only of the
-- projections: `projection:<name>` for each projection (src/projections/runner.ts) and `reactor`
-- for the reactor (src/reactor/reactor.ts). The table keeps its name (the grants of
-- 0008_roles.sql, `gpu-scaler sql` and the README's queries name it); this says what it holds
-- where an operator looks (\d+ in psql, or pg_description).
COMMENT ON TABLE projection_checkpoints IS
  'The checkpoint of every catch-up subscriber: projection:<name> for each projection, reactor for the reactor. One compound (tx_id, global_position) per subscriber, advanced in the same transaction as its work.';
COMMENT ON COLUMN projection_checkpoints.name IS
  'The subscriber: projection:<name> (a projection) or reactor (the reactor).';
