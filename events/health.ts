import { z } from 'zod';
import { count, cycleNo, isoTime } from './common';
import { defineEvent } from './define';

export const DbLoggingStats = z.object({
  enabled: z.boolean(),
  healthy: z.boolean(),
  initError: z.string().nullable(),
  sent: count,
  failed: count,
  dropped: count,
  queueSize: count,
  /** failed / (sent + failed), 0..1 */
  errorRate: z.number().min(0).max(1),
});
export type DbLoggingStats = z.infer<typeof DbLoggingStats>;

export const HealthChecked = defineEvent({
  type: 'HealthChecked',
  schemaVersion: 1,
  schema: z.object({
    cycle: cycleNo,
    at: isoTime,
    status: z.enum(['healthy', 'degraded', 'failing']),
    dbLogging: DbLoggingStats,
    problems: z.array(z.string()),
  }),
});

export const HealthSummaryRecorded = defineEvent({
  type: 'HealthSummaryRecorded',
  schemaVersion: 1,
  schema: z.object({
    cycle: cycleNo,
    at: isoTime,
    dbLoggingHealthy: z.boolean(),
    lastTaskCount: z.object({ queued: count, active: count, total: count }).nullable(),
    lastWorkerCount: count,
    workersByStatus: z.record(z.string(), count),
    anomaliesSinceLast: count,
    anomalyKinds: z.record(z.string(), count),
  }),
});
