-- The policy that made each decision (projections/scaling-decisions.ts): its name, settings, terms
-- and how they combine, as ScalingDecided v2 records them. `terms` keeps each term's value by name.
-- Null for rows projected before the column existed (gpu-scaler replay fills it, v1 events upcast).

ALTER TABLE scaling_decisions ADD COLUMN policy jsonb;
