-- Pools count their cycles each from 1 (issue #25): a decision and a health summary are one pool's
-- cycle, so the rows are keyed by both. `pool_cycle` ('<pool>:<cycle>') is the key the projections
-- upsert on (one key column, as every projection has); (pool, cycle) is unique and indexed for
-- the reads by pool and cycle. Rows from before hold pool default's cycles.

ALTER TABLE scaling_decisions ADD COLUMN pool_cycle text;
UPDATE scaling_decisions SET pool_cycle = pool || ':' || cycle;
ALTER TABLE scaling_decisions ALTER COLUMN pool_cycle SET NOT NULL;
ALTER TABLE scaling_decisions DROP CONSTRAINT scaling_decisions_pkey;
ALTER TABLE scaling_decisions ADD PRIMARY KEY (pool_cycle);
CREATE UNIQUE INDEX scaling_decisions_pool_cycle_idx ON scaling_decisions (pool, cycle);

ALTER TABLE health_summaries ADD COLUMN pool_cycle text;
UPDATE health_summaries SET pool_cycle = pool || ':' || cycle;
ALTER TABLE health_summaries ALTER COLUMN pool_cycle SET NOT NULL;
ALTER TABLE health_summaries DROP CONSTRAINT health_summaries_pkey;
ALTER TABLE health_summaries ADD PRIMARY KEY (pool_cycle);
CREATE UNIQUE INDEX health_summaries_pool_cycle_idx ON health_summaries (pool, cycle);
