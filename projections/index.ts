import { anomaliesProjection } from './anomalies';
import { healthSummariesProjection } from './health-summaries';
import type { Projection } from './projection';
import { scalingDecisionsProjection } from './scaling-decisions';
import { workersProjection } from './workers';

export { foldAll, type Projection, type ProjectionRow } from './projection';

// biome-ignore lint/suspicious/noExplicitAny: a list of projections of different row types
export const ALL_PROJECTIONS: Projection<any>[] = [
  workersProjection,
  scalingDecisionsProjection,
  anomaliesProjection,
  healthSummariesProjection,
];

export { anomaliesProjection, healthSummariesProjection, scalingDecisionsProjection, workersProjection };
