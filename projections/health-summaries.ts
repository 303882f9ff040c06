import { type ProjectedEvent, type Projection, poolCycleKey } from './projection';

export interface HealthSummaryRow {
  [k: string]: string | number | boolean | null | object;
  cycle: number;
  recorded_at: string;
  db_logging_healthy: boolean;
  last_queued: number | null;
  last_active: number | null;
  last_total: number | null;
  last_worker_count: number;
  workers_by_status: object;
  anomalies_since_last: number;
  anomaly_kinds: object;
  global_position: number;
  pool: string;
  /** The row's key: its pool's cycle, `<pool>:<cycle>` (migrations/0031_pool_cycle_keys.sql). */
  pool_cycle: string;
}

/** One row per periodic health summary (every 20 cycles). */
export const healthSummariesProjection: Projection<HealthSummaryRow> = {
  name: 'health_summaries',
  table: 'health_summaries',
  key: 'pool_cycle',
  keyType: 'text',
  columns: [
    'pool_cycle',
    'cycle',
    'recorded_at',
    'db_logging_healthy',
    'last_queued',
    'last_active',
    'last_total',
    'last_worker_count',
    'workers_by_status',
    'anomalies_since_last',
    'anomaly_kinds',
    'global_position',
    'pool',
  ],
  eventTypes: ['HealthSummaryRecorded'],
  keyOf: (e: ProjectedEvent) => (e.type === 'HealthSummaryRecorded' ? poolCycleKey(e.data.pool, e.data.cycle) : null),
  evolve(row, e) {
    if (e.type !== 'HealthSummaryRecorded') return row;
    const d = e.data;
    return {
      pool_cycle: poolCycleKey(d.pool, d.cycle),
      cycle: d.cycle,
      recorded_at: d.at,
      db_logging_healthy: d.dbLoggingHealthy,
      last_queued: d.lastTaskCount?.queued ?? null,
      last_active: d.lastTaskCount?.active ?? null,
      last_total: d.lastTaskCount?.total ?? null,
      last_worker_count: d.lastWorkerCount,
      workers_by_status: d.workersByStatus,
      anomalies_since_last: d.anomaliesSinceLast,
      anomaly_kinds: d.anomalyKinds,
      global_position: e.globalPosition,
      pool: d.pool,
    };
  },
};
