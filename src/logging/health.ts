import type { DbLoggingStats } from '../../events/health';

export interface DbLoggingThresholds {
  /** Unhealthy above this share of failed rows, failed / (sent + failed) (default 0.10). */
  maxErrorRate?: number;
  /** Unhealthy with more entries than this waiting (default 1000). */
  maxQueueSize?: number;
  /** Unhealthy with more entries than this dropped from a full queue (default 100). */
  maxDropped?: number;
}

const DEFAULT_DB_LOGGING_THRESHOLDS: Required<DbLoggingThresholds> = {
  maxErrorRate: 0.1,
  maxQueueSize: 1000,
  maxDropped: 100,
};

export interface DbLoggingAssessment {
  healthy: boolean;
  problems: string[];
}

function percent(rate: number, digits: number): string {
  return `${(rate * 100).toFixed(digits)}%`;
}

/**
 * Judges database logging from its counters alone (the `healthy` field of the input is ignored):
 * unhealthy when initialization failed, or the error rate, the queue or the dropped count is above
 * its threshold.
 */
export function assessDbLogging(
  stats: Omit<DbLoggingStats, 'healthy'> & { healthy?: boolean },
  thresholds: DbLoggingThresholds = {},
): DbLoggingAssessment {
  const t = { ...DEFAULT_DB_LOGGING_THRESHOLDS, ...thresholds };
  const problems: string[] = [];
  if (stats.initError !== null) problems.push(`database logging initialization failed: ${stats.initError}`);
  if (stats.errorRate > t.maxErrorRate) {
    problems.push(
      `database logging error rate ${percent(stats.errorRate, 1)} > ${Number((t.maxErrorRate * 100).toFixed(2))}% ` +
        `(${stats.failed} of ${stats.sent + stats.failed} rows failed)`,
    );
  }
  if (stats.queueSize > t.maxQueueSize) {
    problems.push(`database logging queue holds ${stats.queueSize} entries > ${t.maxQueueSize}`);
  }
  if (stats.dropped > t.maxDropped) {
    problems.push(`database logging dropped ${stats.dropped} entries > ${t.maxDropped} (queue full)`);
  }
  return { healthy: problems.length === 0, problems };
}

/** failed / (sent + failed), 0 before anything was written. */
export function errorRate(sent: number, failed: number): number {
  return sent + failed === 0 ? 0 : failed / (sent + failed);
}
