import fs from 'node:fs';
import path from 'node:path';
import type { LogDestinationStats } from '../../events/health';
import { describeError } from './errors-file';

export type LogDestination = LogDestinationStats['destination'];

/**
 * Counts failed writes per log destination (stdout, stderr, the log file), with the last error, so
 * the health check reports a destination that stopped (a full disk under the log file) instead of
 * the service running on silently.
 */
export class DestinationFailures {
  private readonly entries = new Map<LogDestination, LogDestinationStats>();

  constructor(
    private readonly redact: (text: string) => string,
    logFile: string | null,
  ) {
    this.entries.set('stdout', { destination: 'stdout', target: null, failures: 0, lastError: null });
    this.entries.set('stderr', { destination: 'stderr', target: null, failures: 0, lastError: null });
    if (logFile !== null)
      this.entries.set('file', { destination: 'file', target: logFile, failures: 0, lastError: null });
  }

  record(destination: LogDestination, err: unknown): void {
    const e = this.entries.get(destination);
    if (!e) return;
    e.failures += 1;
    // a stream that failed once is closed: later writes fail with ERR_STREAM_DESTROYED, which
    // would hide the cause (ENOSPC), so the cause stays the last error told
    const destroyed = (err as { code?: unknown } | null)?.code === 'ERR_STREAM_DESTROYED';
    if (!destroyed || e.lastError === null) e.lastError = this.redact(describeError(err));
  }

  stats(): LogDestinationStats[] {
    return [...this.entries.values()].map((e) => ({ ...e }));
  }
}

/** The health check's lines for destinations that lost writes. */
export function destinationProblems(stats: readonly LogDestinationStats[]): string[] {
  return stats
    .filter((s) => s.failures > 0)
    .map(
      (s) =>
        `${s.destination === 'file' ? `log file ${s.target}` : s.destination}: ${s.failures} write${s.failures === 1 ? '' : 's'} failed (last: ${s.lastError})`,
    );
}

/**
 * LOG_FILE's directory must exist: a missing one is a start-up error (a typo would otherwise log
 * nowhere, or create directories where nobody looks). Returns the problem, or null.
 */
export function logFileProblem(file: string): string | null {
  const dir = path.dirname(path.resolve(file));
  try {
    if (!fs.statSync(dir).isDirectory()) return `LOG_FILE=${file}: ${dir} is not a directory`;
  } catch {
    return `LOG_FILE=${file}: the directory ${dir} does not exist (create it, or set LOG_FILE=none)`;
  }
  return null;
}
