import { GpuScalerError } from '../errors';
import type { Sql } from '../store/db';
import { describeError, errorType } from './errors-file';
import { INSERT_SYSTEM_LOGS, type SystemLogRow } from './system-log-row';

/**
 * Database logging was required (`dbLoggingRequired: true`) but could not start. The caller
 * should exit non-zero; db_logging_errors.log has already been written.
 */
export class DbLoggingRequiredError extends GpuScalerError {
  /** Type of the underlying error, e.g. `DatabaseError`. */
  readonly errorType: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super('DB_LOGGING_REQUIRED', message, options);
    this.name = 'DbLoggingRequiredError';
    this.errorType = options?.cause === undefined ? 'Error' : errorType(options.cause);
  }
}

/** Database logging cannot even be attempted: no database, or it was switched off yet required. */
export class DbLoggingUnavailableError extends GpuScalerError {
  constructor(message: string) {
    super('DB_LOGGING_UNAVAILABLE', message);
    this.name = 'DbLoggingUnavailableError';
  }
}

/** The probe did not answer in time. */
export class DbLoggingTimeoutError extends GpuScalerError {
  constructor(message: string) {
    super('DB_LOGGING_TIMEOUT', message);
    this.name = 'DbLoggingTimeoutError';
  }
}

export const PROBE_MESSAGE = 'database logging started';

export interface ProbeOptions {
  sourceType: string;
  sourceId: string;
  at: Date;
  timeoutMs: number;
}

/**
 * Inserts one row through the same statement the transport uses, so a missing table, a missing
 * column or a table that refuses inserts (trigger, CHECK, permissions) fails here, at startup.
 */
export async function probeSystemLogs(db: Sql, opts: ProbeOptions): Promise<void> {
  const row: SystemLogRow = {
    created_at: opts.at.toISOString(),
    source_type: opts.sourceType,
    source_id: opts.sourceId,
    log_level: 'info',
    message: PROBE_MESSAGE,
    worker_id: null,
    cycle_number: null,
    metadata: { probe: true },
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new DbLoggingTimeoutError(`the probe insert into system_logs took longer than ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
  });
  try {
    await Promise.race([db.query(INSERT_SYSTEM_LOGS, [JSON.stringify([row])]), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The line logged at crit (and mirrored) when database logging cannot start. */
export function initFailureLine(err: unknown): string {
  return `❌ CRITICAL: Database logging initialization FAILED: ${describeError(err)}`;
}
