import os from 'node:os';
import path from 'node:path';
import winston from 'winston';
import type { DbLoggingStats, LogDestinationStats } from '../../events/health';
import type { Sql } from '../store/db';
import {
  DbLoggingRequiredError,
  DbLoggingUnavailableError,
  initFailureLine,
  PROBE_MESSAGE,
  probeSystemLogs,
} from './db-logging-init';
import { DestinationFailures, logFileProblem } from './destinations';
import { appendErrorFile, BatchFailureReporter, describeError, errorType, initFailureReport } from './errors-file';
import { LogFileTransport } from './file-transport';
import { jsonFormat, textFormat } from './format';
import { assessDbLogging, errorRate } from './health';
import { isLogLevel, LOG_LEVELS } from './levels';
import { makeRedactor, redactFormat } from './redact';
import { createMirror } from './stderr-mirror';
import { StdoutTransport } from './stdout-transport';
import { positiveInt, SystemLogsTransport } from './system-logs-transport';

export { DbLoggingRequiredError, DbLoggingTimeoutError, DbLoggingUnavailableError } from './db-logging-init';
export { destinationProblems, logFileProblem } from './destinations';
export { assessDbLogging } from './health';
export { redactSecrets } from './redact';
export { pruneSystemLogs, SystemLogsPruner } from './retention';

export interface LoggingOptions {
  /** stdout format: 'pretty' (timestamp, level, message) or 'json' (one object per line). Default 'pretty'. */
  format?: 'pretty' | 'json';
  /** Lowest level written anywhere (syslog names). Default 'debug' (everything). */
  level?: string;
  /** Plain-text log file; default `orchestrator.log` in process.cwd(); null disables. */
  logFile?: string | null;
  /** Write to the system_logs table. Default: true when a database is given. */
  dbLogging?: boolean;
  /** Reject with DbLoggingRequiredError when database logging cannot start. Default false. */
  dbLoggingRequired?: boolean;
  /** Where database logging problems are appended; default `db_logging_errors.log` in process.cwd(). */
  dbErrorsFile?: string;
  /** Entries waiting for the database at most (default 10,000; beyond it the oldest are dropped). */
  queueMax?: number;
  /** Rows per INSERT (default 100). */
  batchSize?: number;
  /** Write queued entries at least this often (default 1000 ms). */
  flushMs?: number;
  /** system_logs.source_type (default 'orchestrator'). */
  sourceType?: string;
  /** system_logs.source_id (default `<hostname>-<pid>`). */
  sourceId?: string;
  /** Strings replaced by *** everywhere (URL passwords are always replaced). */
  secrets?: string[];
  /** Description of the store for error reports (redacted like everything else). */
  dbTarget?: string;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Clock for timestamps. */
  now?: () => Date;
  /** Give up on the startup probe insert after this long (default 10,000 ms). */
  probeTimeoutMs?: number;
  /** close() stops waiting for the file and the database after this long (default 10,000 ms). */
  closeTimeoutMs?: number;
}

export interface Logging {
  /** Syslog levels: emerg, alert, crit, error, warning, notice, info, debug. */
  logger: winston.Logger;
  /** The redundant `<ISO timestamp> <line>` on stderr, written directly; never throws. */
  mirror(line: string): void;
  dbStats(): DbLoggingStats;
  /** Failed writes to stdout, stderr and the log file, with the last error of each. */
  destinationStats(): LogDestinationStats[];
  /** Counts a failed write to a destination made outside the logger (the service's first lines). */
  destinationFailed(destination: 'stdout' | 'stderr', err: unknown): void;
  /** Writes everything queued so far to the database (failures are counted, never thrown). */
  flush(): Promise<void>;
  /**
   * Flushes and closes every destination; the log file is complete when it resolves. Idempotent.
   * `timeoutMs`: stop waiting for the file and the database after this long (default closeTimeoutMs).
   */
  close(opts?: { timeoutMs?: number }): Promise<void>;
}

/** How many logger errors (an unwritable file, writes after close) are mirrored before going quiet. */
const MAX_REPORTED_LOGGER_ERRORS = 5;

/**
 * Sets up the four destinations: stdout (winston), the stderr mirror (direct writes), the log file
 * (winston) and the system_logs table (batched, bounded, never blocking). Database logging starts
 * with a probe insert; when that fails the other destinations carry on and the failure is logged at
 * crit, appended to the errors file and reported by dbStats() -- or, with dbLoggingRequired, the
 * returned promise rejects with DbLoggingRequiredError.
 */
export async function createLogging(opts: LoggingOptions, db: Sql | null): Promise<Logging> {
  const now = opts.now ?? (() => new Date());
  const level = opts.level ?? 'debug';
  if (!isLogLevel(level)) {
    throw new RangeError(`unknown log level "${level}": use one of ${Object.keys(LOG_LEVELS).join(', ')}`);
  }
  for (const key of ['queueMax', 'batchSize', 'flushMs', 'probeTimeoutMs', 'closeTimeoutMs'] as const) {
    if (opts[key] !== undefined) positiveInt(opts[key], key);
  }
  const redact = makeRedactor(opts.secrets ?? []);
  const logFile = opts.logFile === undefined ? path.join(process.cwd(), 'orchestrator.log') : opts.logFile;
  if (logFile !== null) {
    const problem = logFileProblem(logFile);
    if (problem) throw new Error(problem);
  }
  const failures = new DestinationFailures(redact, logFile);
  const mirror = createMirror(opts.stderr ?? process.stderr, now, redact, (err) => failures.record('stderr', err));
  const errorsFile = opts.dbErrorsFile ?? path.join(process.cwd(), 'db_logging_errors.log');
  const sourceType = opts.sourceType ?? 'orchestrator';
  const sourceId = opts.sourceId ?? `${os.hostname()}-${process.pid}`;
  const closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;

  const logger = winston.createLogger({
    levels: LOG_LEVELS,
    level,
    exitOnError: false,
    // redacted before the timestamp is added: the service's own time is never a secret
    format: winston.format.combine(
      redactFormat(redact),
      winston.format.timestamp({ format: () => now().toISOString() }),
    ),
  });
  let loggerErrors = 0;
  logger.on('error', (err: unknown) => {
    loggerErrors += 1;
    if (loggerErrors <= MAX_REPORTED_LOGGER_ERRORS) mirror(`logging error: ${describeError(err)}`);
  });
  logger.add(
    new StdoutTransport({
      stream: opts.stdout,
      format: opts.format === 'json' ? jsonFormat() : textFormat(),
      onFailure: (err) => failures.record('stdout', err),
    }),
  );
  if (logFile !== null) {
    try {
      logger.add(
        new LogFileTransport({
          filename: logFile,
          format: textFormat(),
          onFailure: (err) => failures.record('file', err),
        }),
      );
    } catch (err) {
      logger.crit(`log file ${logFile} cannot be opened, logging without it: ${describeError(err)}`);
      mirror(`log file ${logFile} cannot be opened: ${describeError(err)}`);
    }
  }

  const wanted = (opts.dbLogging ?? db !== null) || opts.dbLoggingRequired === true;
  let transport: SystemLogsTransport | null = null;
  let initError: string | null = null;
  const reporter = new BatchFailureReporter(errorsFile, now, redact, (err) =>
    mirror(`cannot write ${errorsFile}: ${describeError(err)}`),
  );

  let closing: Promise<void> | null = null;
  const close = (o: { timeoutMs?: number } = {}): Promise<void> => {
    const ms = o.timeoutMs ?? closeTimeoutMs;
    closing ??= (async () => {
      transport?.stop();
      await withTimeout(endLogger(logger), ms);
      if (transport) await withTimeout(transport.flush(), ms);
      reporter.summarize();
    })();
    return closing;
  };

  if (wanted) {
    try {
      if (!db) throw new DbLoggingUnavailableError('no database was given');
      if (opts.dbLogging === false)
        throw new DbLoggingUnavailableError('dbLoggingRequired is set but dbLogging is false');
      await probeSystemLogs(db, { sourceType, sourceId, at: now(), timeoutMs: opts.probeTimeoutMs ?? 10_000 });
      transport = new SystemLogsTransport({
        db,
        sourceType,
        sourceId,
        queueMax: opts.queueMax,
        batchSize: opts.batchSize,
        flushMs: opts.flushMs,
        onBatchFailed: (rows, err) => reporter.report(rows, err),
      });
      logger.add(transport);
      transport.start();
      logger.info(`✅ ${PROBE_MESSAGE}: writing to system_logs`, { dbTarget: opts.dbTarget });
    } catch (err) {
      transport = null;
      initError = redact(describeError(err));
      const line = initFailureLine(err);
      logger.crit(line, { errorType: errorType(err), dbTarget: opts.dbTarget });
      mirror(line);
      const report = initFailureReport(
        {
          at: now(),
          error: err,
          dbTarget: opts.dbTarget,
          sourceType,
          sourceId,
          required: opts.dbLoggingRequired === true,
        },
        redact,
      );
      const writeError = appendErrorFile(errorsFile, report);
      if (writeError) mirror(`cannot write ${errorsFile}: ${describeError(writeError)}`);
      if (opts.dbLoggingRequired) {
        await close();
        throw new DbLoggingRequiredError(`database logging is required but could not start: ${initError}`, {
          cause: err,
        });
      }
    }
  }

  const dbStats = (): DbLoggingStats => {
    const c = transport?.counters() ?? { sent: 0, failed: 0, dropped: 0, queueSize: 0 };
    const stats = { enabled: wanted, initError, ...c, errorRate: errorRate(c.sent, c.failed) };
    return { ...stats, healthy: assessDbLogging(stats).healthy };
  };

  return {
    logger,
    mirror,
    dbStats,
    destinationStats: () => failures.stats(),
    destinationFailed: (destination, err) => failures.record(destination, err),
    flush: async () => {
      // let entries logged just now travel through winston's pipe first
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (transport) await transport.flush();
    },
    close,
  };
}

/** Ends the logger; resolves when every transport has finished (the file transport's once its data is written). */
function endLogger(logger: winston.Logger): Promise<void> {
  return new Promise((resolve) => {
    if (logger.writableFinished) return resolve();
    logger.once('finish', () => resolve());
    logger.end();
  });
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([p.catch(() => {}), timeout]).finally(() => clearTimeout(timer));
}
