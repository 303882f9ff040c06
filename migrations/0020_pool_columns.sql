-- Pools (docs/architecture.md, the event store: pools in streams and events): every event names its pool, and so does
-- every projection row folded from one, and every task of the tasks-table source. Rows from before
-- pools are pool `default`, as the events they came from read (events/common.ts). A projection
-- rebuild fills the column from the events.

ALTER TABLE workers ADD COLUMN pool text NOT NULL DEFAULT 'default';
ALTER TABLE scaling_decisions ADD COLUMN pool text NOT NULL DEFAULT 'default';
ALTER TABLE anomalies ADD COLUMN pool text NOT NULL DEFAULT 'default';
ALTER TABLE health_summaries ADD COLUMN pool text NOT NULL DEFAULT 'default';

-- A pool's live workers (the fleet it counts against its caps).
CREATE INDEX workers_pool_status_idx ON workers (pool, status);

-- The tasks-table source counts its pool's open tasks; simulated workers take their pool's.
ALTER TABLE tasks ADD COLUMN pool text NOT NULL DEFAULT 'default';
DROP INDEX IF EXISTS tasks_open_idx;
CREATE INDEX tasks_open_idx ON tasks (pool, status, id) WHERE status IN ('queued', 'active');
