import { z } from 'zod';
import { count, cycleNo, isoTime, poolField } from './common';
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

/** Failed writes to one of the other log destinations (system_logs is DbLoggingStats). */
export const LogDestinationStats = z.object({
  destination: z.enum(['stdout', 'stderr', 'file']),
  /** The file's path; null for the streams. */
  target: z.string().nullable(),
  failures: count,
  lastError: z.string().nullable(),
});
export type LogDestinationStats = z.infer<typeof LogDestinationStats>;

export const HealthChecked = defineEvent({
  type: 'HealthChecked',
  schemaVersion: 1,
  schema: z.object({
    cycle: cycleNo,
    at: isoTime,
    pool: poolField,
    status: z.enum(['healthy', 'degraded', 'failing']),
    dbLogging: DbLoggingStats,
    /** Absent in events written before it was recorded. */
    logDestinations: z.array(LogDestinationStats).optional(),
    problems: z.array(z.string()),
  }),
});

export const HealthSummaryRecorded = defineEvent({
  type: 'HealthSummaryRecorded',
  schemaVersion: 1,
  schema: z.object({
    cycle: cycleNo,
    at: isoTime,
    pool: poolField,
    dbLoggingHealthy: z.boolean(),
    /** Failed writes to stdout, stderr and the log file since start (absent in older events). */
    logWriteFailures: count.optional(),
    lastTaskCount: z.object({ queued: count, active: count, total: count }).nullable(),
    lastWorkerCount: count,
    workersByStatus: z.record(z.string(), count),
    anomaliesSinceLast: count,
    anomalyKinds: z.record(z.string(), count),
  }),
});
