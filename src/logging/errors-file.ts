import fs from 'node:fs';
import type { Redactor } from './redact';

/**
 * A readable name for what was thrown. PGlite's errors are minified classes named `error`, so a
 * Postgres error (one with a SQLSTATE and a severity) is called `DatabaseError` unless its class
 * says better (porsager's `PostgresError`).
 */
export function errorType(err: unknown): string {
  if (err instanceof Error || (typeof err === 'object' && err !== null)) {
    const e = err as { name?: unknown; code?: unknown; severity?: unknown; constructor?: { name?: unknown } };
    const name = typeof e.name === 'string' ? e.name : '';
    if (name && name !== 'Error' && name !== 'error') return name;
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && e.severity !== undefined) return 'DatabaseError';
    const ctor = typeof e.constructor?.name === 'string' ? e.constructor.name : '';
    if (ctor.length > 2 && ctor !== 'Object') return ctor;
    return 'Error';
  }
  return typeof err;
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
    return (err as { message: string }).message;
  }
  return String(err);
}

/** `<ErrorType>: <message>` */
export function describeError(err: unknown): string {
  return `${errorType(err)}: ${errorMessage(err)}`;
}

function sqlState(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** Appends to the error file; never throws (returns the error instead, for the caller to mirror). */
export function appendErrorFile(file: string, text: string): Error | null {
  try {
    fs.appendFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
    return null;
  } catch (err) {
    return err as Error;
  }
}

export interface InitFailureDetails {
  at: Date;
  error: unknown;
  dbTarget?: string;
  sourceType: string;
  sourceId: string;
  required: boolean;
}

/** The block written to db_logging_errors.log when database logging cannot start. */
export function initFailureReport(d: InitFailureDetails, redact: Redactor): string {
  const stack = d.error instanceof Error && d.error.stack ? d.error.stack : '(no stack)';
  const code = sqlState(d.error);
  const lines = [
    '='.repeat(72),
    `${d.at.toISOString()} DATABASE LOGGING INITIALIZATION FAILED`,
    `error type: ${errorType(d.error)}`,
    `message: ${errorMessage(d.error)}`,
    ...(code ? [`sqlstate: ${code}`] : []),
    `database: ${d.dbTarget ?? '(not described)'}`,
    `source: ${d.sourceType}/${d.sourceId}`,
    `required: ${d.required ? 'yes: the process will exit' : 'no: logging continues on stdout, stderr and the log file'}`,
    'stack:',
    stack,
    '',
  ];
  return redact(lines.join('\n'));
}

/**
 * Appends batch write failures to the error file, at most one line per `intervalMs` (default 10 s);
 * the failures in between are counted and reported with the next line (or by `summarize()` at close).
 */
export class BatchFailureReporter {
  private lastWrite: number | null = null;
  private suppressedBatches = 0;
  private suppressedRows = 0;
  private suppressedSince: Date | null = null;
  private lastError: unknown = null;

  constructor(
    private readonly file: string,
    private readonly now: () => Date,
    private readonly redact: Redactor,
    private readonly onWriteError: (err: Error) => void,
    private readonly intervalMs = 10_000,
  ) {}

  report(rows: number, err: unknown): void {
    const at = this.now();
    if (this.lastWrite !== null && at.getTime() - this.lastWrite < this.intervalMs) {
      this.suppressedSince ??= at;
      this.suppressedBatches += 1;
      this.suppressedRows += rows;
      this.lastError = err;
      return;
    }
    let line = `${at.toISOString()} system_logs batch write FAILED after one retry, ${rows} rows dropped: ${describeError(err)}`;
    line += this.takeSuppressed();
    this.write(at, line);
  }

  /** Writes the failures still being held back, if any. */
  summarize(): void {
    if (this.suppressedBatches === 0) return;
    const at = this.now();
    this.write(at, `${at.toISOString()} system_logs batch write failures not yet reported:${this.takeSuppressed()}`);
  }

  private takeSuppressed(): string {
    if (this.suppressedBatches === 0) return '';
    const text =
      ` (+${this.suppressedBatches} more failed batches, ${this.suppressedRows} rows, since ` +
      `${this.suppressedSince?.toISOString()}; last error: ${describeError(this.lastError)})`;
    this.suppressedBatches = 0;
    this.suppressedRows = 0;
    this.suppressedSince = null;
    this.lastError = null;
    return text;
  }

  private write(at: Date, line: string): void {
    this.lastWrite = at.getTime();
    const failure = appendErrorFile(this.file, this.redact(line));
    if (failure) this.onWriteError(failure);
  }
}
