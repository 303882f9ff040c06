-- One budget across pools (issue #25): the global caps (GLOBAL_MAX_ACTIVE_GPUS,
-- GLOBAL_MAX_HOURLY_COST_USD) bound the sum of every pool's live fleet, whichever replica leads
-- each pool. A reactor checks the fleet of every pool and records its spawn request in one
-- transaction holding this row's lock (SELECT ... FOR UPDATE: src/store/queries.ts lockBudget), so
-- two pools' spawns can never both fit under the cap on the same count. A row lock needs UPDATE,
-- which only gpu_scaler_writer has: the read-only login cannot take it and hold every spawn back
-- (an advisory lock needs no grant; see 0013_controller_lease.sql).
CREATE TABLE IF NOT EXISTS budget_lock (
  name text PRIMARY KEY CHECK (name = 'budget')
);
INSERT INTO budget_lock (name) VALUES ('budget') ON CONFLICT (name) DO NOTHING;

COMMENT ON TABLE budget_lock IS
  'One row, locked (FOR UPDATE) by a reactor while it checks the global caps against every pool''s live fleet and records a spawn request.';

REVOKE ALL ON budget_lock FROM gpu_scaler_reader;
GRANT SELECT ON budget_lock TO gpu_scaler_reader;
GRANT SELECT, UPDATE ON budget_lock TO gpu_scaler_writer;
