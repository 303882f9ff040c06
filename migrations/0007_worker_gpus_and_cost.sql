-- Each worker's GPUs and the hourly price it was placed at (projections/workers.ts): what
-- MIN_ACTIVE_GPUS, MAX_ACTIVE_GPUS and MAX_HOURLY_COST_USD count, and what status shows as the burn
-- rate. Both are null for workers recorded before the fields existed (rebuild to fill what is known).

ALTER TABLE workers ADD COLUMN gpu_count integer;
ALTER TABLE workers ADD COLUMN hourly_cost_usd double precision;

-- What a decision counted in GPUs and money (projections/scaling-decisions.ts); null before the fields.
ALTER TABLE scaling_decisions ADD COLUMN gpus_per_worker integer;
ALTER TABLE scaling_decisions ADD COLUMN current_gpus integer;
ALTER TABLE scaling_decisions ADD COLUMN burn_usd_per_hour double precision;
ALTER TABLE scaling_decisions ADD COLUMN quote_usd_per_hour double precision;
