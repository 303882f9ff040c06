import { parse } from 'csv-parse/sync';
import { POOL_NAME_ALLOWED, POOL_NAME_PATTERN } from '../../events/common';

/** One task of a trace: when it arrived and how long it runs on one GPU, in seconds. */
export interface TraceTask {
  /** Seconds from the trace's start (the first arrival is not necessarily 0). */
  arrival: number;
  run: number;
  /** The pool the task is for (a trace with a pool column); absent: pool default. */
  pool?: string;
}

export interface Trace {
  /** The wall time of `arrival = 0` (the first arrival's time for ISO traces, else a fixed epoch). */
  start: Date;
  /** In arrival order (stable: rows with the same time keep the file's order). */
  tasks: TraceTask[];
  /** Bad rows, with their line number in the file and why. */
  bad: { line: number; reason: string }[];
  rows: number;
}

/** Run time from tokens, for traces that only carry token counts (prefill then decode on one GPU). */
export interface TokenModel {
  prefillTps: number;
  decodeTps: number;
  inputColumn: string;
  outputColumn: string;
}

export interface TraceOptions {
  timeColumn?: string;
  /** The run-time column (seconds); or `tokens` instead. */
  durationColumn?: string;
  tokens?: TokenModel;
  /** The run stops when more than this share of rows is bad (0..1). */
  maxBadShare?: number;
  /** A row whose run time is over this (seconds) is refused as bad (default MAX_RUN_SEC). */
  maxRunSec?: number;
  /**
   * The pool column (--pool-column): each task is for the pool it names. Absent: a column named
   * `pool` when the trace has one, else every task is pool default's.
   */
  poolColumn?: string;
}

/** The pool column's name when --pool-column does not give one. */
export const POOL_COLUMN = 'pool';

/** The longest run time a row may have unless the operator raises it (--max-run-sec): a day. */
export const MAX_RUN_SEC = 86_400;

/** Where seconds-from-start traces are placed on the calendar (any fixed date: it only names times). */
export const SECONDS_EPOCH = '2026-01-01T00:00:00.000Z';

export class TraceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceError';
  }
}

const TIME_GUESSES = ['arrival', 'arrival_time', 'time', 'timestamp', 'gmt_create', 'submit_time', 'start'];
const DURATION_GUESSES = ['duration', 'run_seconds', 'runtime', 'run_time', 'exec_time_seconds', 'duration_sec'];

function pick(header: string[], given: string | undefined, guesses: string[], what: string, flag: string): string {
  if (given !== undefined) {
    if (!header.includes(given)) {
      throw new TraceError(
        `${flag} ${given}: the trace has no column "${given}"; its columns are ${header.join(', ')}`,
      );
    }
    return given;
  }
  const found = guesses.find((g) => header.some((h) => h.toLowerCase() === g));
  if (!found) {
    throw new TraceError(
      `no ${what} column found (looked for ${guesses.join(', ')}): name it with ${flag}; the trace's columns are ${header.join(', ')}`,
    );
  }
  return header.find((h) => h.toLowerCase() === found) as string;
}

/**
 * An arrival time: seconds from the start (a plain number) or an ISO-like timestamp, read as UTC
 * when it has no zone. More than 3 fractional digits are cut to milliseconds (Azure's traces
 * carry 7).
 */
export function parseTime(raw: string): { kind: 'seconds' | 'time'; value: number; zoned?: boolean } | null {
  const v = raw.trim();
  if (v === '') return null;
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(v)) {
    const n = Number(v);
    return Number.isFinite(n) && n >= 0 ? { kind: 'seconds', value: n } : null;
  }
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/.exec(v);
  if (!m) return null;
  const frac = m[3] ? `.${m[3].slice(0, 3).padEnd(3, '0')}` : '';
  const ms = Date.parse(`${m[1]}T${m[2]}${frac}${m[4] ?? 'Z'}`);
  return Number.isFinite(ms) ? { kind: 'time', value: ms, zoned: m[4] !== undefined } : null;
}

function positive(raw: string | undefined, column: string): number | string {
  if (raw === undefined || raw.trim() === '') return `${column} is empty`;
  const n = Number(raw.trim());
  if (!Number.isFinite(n)) return `${column} "${raw}" is not a number`;
  if (n < 0) return `${column} ${raw} is negative`;
  return n;
}

/** Reads a CSV trace of task arrivals (see TraceOptions); rows that do not parse are reported, not guessed. */
export function parseTrace(text: string, o: TraceOptions = {}): Trace {
  let records: string[][];
  try {
    records = parse(text, { relax_column_count: true, skip_empty_lines: true, bom: true, trim: true });
  } catch (err) {
    throw new TraceError(`the trace is not valid CSV: ${(err as Error).message}`);
  }
  if (records.length === 0) throw new TraceError('the trace is empty (expected a header row and task rows)');
  const header = records[0];
  const timeCol = pick(header, o.timeColumn, TIME_GUESSES, 'arrival time', '--time-column');
  const ti = header.indexOf(timeCol);
  let runOf: (r: string[]) => number | string;
  if (o.tokens) {
    const { prefillTps, decodeTps } = o.tokens;
    const ii = header.indexOf(pick(header, o.tokens.inputColumn, [], 'input tokens', '--input-tokens-column'));
    const oi = header.indexOf(pick(header, o.tokens.outputColumn, [], 'output tokens', '--output-tokens-column'));
    runOf = (r) => {
      const i = positive(r[ii], header[ii]);
      const out = positive(r[oi], header[oi]);
      if (typeof i === 'string') return i;
      if (typeof out === 'string') return out;
      return i / prefillTps + out / decodeTps;
    };
  } else {
    const di = header.indexOf(pick(header, o.durationColumn, DURATION_GUESSES, 'run time', '--duration-column'));
    runOf = (r) => positive(r[di], header[di]);
  }

  const poolIndex =
    o.poolColumn !== undefined
      ? header.indexOf(pick(header, o.poolColumn, [], 'pool', '--pool-column'))
      : header.findIndex((h) => h.toLowerCase() === POOL_COLUMN);
  const bad: { line: number; reason: string }[] = [];
  const parsed: { at: number; run: number; kind: 'seconds' | 'time'; pool?: string }[] = [];
  let kind: 'seconds' | 'time' | null = null;
  // timestamps with a zone and without one do not mix: a zone-less one is read as UTC, which a
  // trace of local times with one stray zone would shift silently
  let zoned: { zoned: boolean; line: number } | null = null;
  const maxRunSec = o.maxRunSec ?? MAX_RUN_SEC;
  for (let i = 1; i < records.length; i++) {
    const r = records[i];
    const line = i + 1;
    const t = parseTime(r[ti] ?? '');
    if (!t) {
      bad.push({ line, reason: `${timeCol} "${r[ti] ?? ''}" is neither seconds from the start nor an ISO timestamp` });
      continue;
    }
    if (kind && t.kind !== kind) {
      bad.push({
        line,
        reason: `${timeCol} "${r[ti]}" mixes ${t.kind === 'time' ? 'a timestamp' : 'seconds'} into a trace of ${kind === 'time' ? 'timestamps' : 'seconds'}`,
      });
      continue;
    }
    if (t.kind === 'time') {
      const z = t.zoned === true;
      if (zoned && zoned.zoned !== z) {
        bad.push({
          line,
          reason: `${timeCol} "${r[ti]}" ${z ? 'has a time zone' : 'has no time zone'} where line ${zoned.line} ${zoned.zoned ? 'has one' : 'has none'}: a trace's timestamps all carry a zone or none do (none: read as UTC)`,
        });
        continue;
      }
      zoned ??= { zoned: z, line };
    }
    kind = t.kind;
    const run = runOf(r);
    if (typeof run === 'string') {
      bad.push({ line, reason: run });
      continue;
    }
    if (run > maxRunSec) {
      bad.push({
        line,
        reason: `a run time of ${run} s is over the limit of ${maxRunSec} s (raise it with --max-run-sec)`,
      });
      continue;
    }
    let pool: string | undefined;
    if (poolIndex >= 0) {
      pool = (r[poolIndex] ?? '').trim();
      if (!POOL_NAME_PATTERN.test(pool)) {
        bad.push({ line, reason: `${header[poolIndex]} "${pool}" is not a pool name (${POOL_NAME_ALLOWED})` });
        continue;
      }
    }
    parsed.push({ at: t.value, run, kind: t.kind, ...(pool === undefined ? {} : { pool }) });
  }
  const rows = records.length - 1;
  const maxBad = o.maxBadShare ?? 0.01;
  if (rows === 0) throw new TraceError('the trace has a header but no task rows');
  if (bad.length / rows > maxBad) {
    const shown = bad
      .slice(0, 5)
      .map((b) => `line ${b.line}: ${b.reason}`)
      .join('; ');
    throw new TraceError(
      `${bad.length} of ${rows} rows are bad (over the allowed share ${maxBad}, --max-bad-share): ${shown}${bad.length > 5 ? '; ...' : ''}`,
    );
  }
  // stable sort by arrival (the file's order within one time); timestamps are whole ms, kept exact
  const order = parsed.map((p, i) => ({ p, i })).sort((a, b) => a.p.at - b.p.at || a.i - b.i);
  let start = new Date(SECONDS_EPOCH);
  const poolOf = (p: { pool?: string }) => (p.pool === undefined ? {} : { pool: p.pool });
  let tasks: TraceTask[] = order.map(({ p }) => ({ arrival: p.at, run: p.run, ...poolOf(p) }));
  if (kind === 'time' && order.length) {
    const zeroMs = Math.floor(order[0].p.at / 1000) * 1000;
    start = new Date(zeroMs);
    tasks = order.map(({ p }) => ({ arrival: (p.at - zeroMs) / 1000, run: p.run, ...poolOf(p) }));
  }
  return { start, tasks, bad, rows };
}
