-- Parked pods (events/parking.ts, projections/workers-parking.ts, docs/parked-pods.md): a worker
-- whose pod is stopped and kept is 'parked'; when it was last parked, how many times it was started
-- again, and the decision slot (<decision event id>#<ordinal>) of its last start.

ALTER TABLE workers DROP CONSTRAINT IF EXISTS workers_status_check;
ALTER TABLE workers ADD CONSTRAINT workers_status_check
  CHECK (status IN ('spawning', 'active', 'terminating', 'terminated', 'failed', 'parked'));
ALTER TABLE workers ADD COLUMN parked_at timestamptz;
ALTER TABLE workers ADD COLUMN unparks integer NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN unpark_slot text;
-- What the parked pod bills per hour (its disk: PARKED_HOURLY_USD when it was parked); null: unknown.
ALTER TABLE workers ADD COLUMN parked_hourly_usd double precision;
