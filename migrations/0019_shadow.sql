-- Shadow mode and cancelled spawns (projections/scaling-decisions.ts): the mode each decision was
-- made in (`shadow`: recorded as intended actions, nothing done) and the spawning workers it
-- cancelled. Rows projected before the columns read as an active decision that cancelled nothing,
-- as ScalingDecided v3 events upcast.

ALTER TABLE scaling_decisions ADD COLUMN mode text NOT NULL DEFAULT 'active';
ALTER TABLE scaling_decisions ADD COLUMN cancel jsonb NOT NULL DEFAULT '[]'::jsonb;
