/**
 * Printing helpers shared by the query commands (events, sql, status): cell formatting, aligned
 * tables (psql style and kubectl style), CSV, JSON, times and ages.
 */
import type { CliIo } from './context';

/** A database value as text: null as '', dates as ISO, bytes as \x hex, objects and arrays as compact JSON. */
function formatCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? String(v) : v.toISOString();
  if (v instanceof Uint8Array) return `\\x${Buffer.from(v).toString('hex')}`;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'object') return compactJson(v);
  return String(v);
}

/** JSON on one line; dates as ISO, bytes as \x hex, bigints as strings. */
export function compactJson(v: unknown): string {
  return JSON.stringify(v, jsonReplacer) ?? 'null';
}

/** A JSON.stringify replacer for database values (dates become ISO on their own). */
function jsonReplacer(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value).toString('hex')}`;
  // Buffer.toJSON runs before the replacer: { type: 'Buffer', data: [...] }
  if (
    value &&
    typeof value === 'object' &&
    (value as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((value as { data?: unknown }).data) &&
    Object.keys(value).length === 2
  ) {
    return `\\x${Buffer.from((value as { data: number[] }).data).toString('hex')}`;
  }
  return value;
}

/** Pretty JSON for scripts (2-space indent), with the database-value replacer. */
export function writeJsonValue(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
}

/** One JSON document per line (for --follow). */
export function writeJsonLine(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, jsonReplacer)}\n`);
}

/** Cuts text to `width` characters, ending with … when cut. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return '';
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** Newlines and tabs inside a cell would break the table: show them escaped. */
function oneLine(text: string): string {
  return text.replace(/\r?\n/g, '\\n').replace(/\t/g, '\\t');
}

const isNumeric = (v: unknown) =>
  typeof v === 'number' || typeof v === 'bigint' || (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v));

/**
 * A psql-style aligned table:
 *
 *      cycle | decision
 *     -------+----------
 *         52 | SCALE_UP
 *
 * Numbers are right-aligned, everything else left-aligned. The caller adds "(N rows)".
 */
export function psqlTable(columns: string[], rows: Record<string, unknown>[]): string {
  const cells = rows.map((r) => columns.map((c) => oneLine(formatCell(r[c]))));
  const right = columns.map((c) => rows.length > 0 && rows.every((r) => r[c] === null || isNumeric(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const center = (text: string, w: number) => {
    const left = Math.floor((w - text.length) / 2);
    return `${' '.repeat(left)}${text}`.padEnd(w);
  };
  const lines = [
    ` ${columns.map((c, i) => center(c, widths[i])).join(' | ')}`.trimEnd(),
    widths.map((w) => '-'.repeat(w + 2)).join('+'),
    ...cells.map((row) =>
      ` ${row.map((v, i) => (right[i] ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join(' | ')}`.trimEnd(),
    ),
  ];
  return `${lines.join('\n')}\n`;
}

/** "(1 row)", "(3 rows)": psql's footer. */
export function rowCount(n: number): string {
  return `(${n} ${n === 1 ? 'row' : 'rows'})`;
}

/**
 * A kubectl-style table: upper-case headers, columns separated by two spaces, no borders.
 * `right` names the columns to right-align.
 */
export function plainTable(
  columns: string[],
  rows: string[][],
  opts: { indent?: string; right?: readonly number[] } = {},
): string {
  const indent = opts.indent ?? '';
  const right = new Set(opts.right ?? []);
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `${indent}${cells
      .map((v, i) => {
        const text = v ?? '';
        if (i === cells.length - 1 && !right.has(i)) return text;
        return right.has(i) ? text.padStart(widths[i]) : text.padEnd(widths[i]);
      })
      .join('  ')}`.trimEnd();
  return `${[line(columns.map((c) => c.toUpperCase())), ...rows.map(line)].join('\n')}\n`;
}

/** RFC 4180 CSV: a header line, then one line per row; null is an empty field. */
export function toCsv(columns: string[], rows: Record<string, unknown>[]): string {
  const field = (text: string) =>
    /[",\r\n]/.test(text) || /^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  const lines = [
    columns.map(field).join(','),
    ...rows.map((r) => columns.map((c) => field(formatCell(r[c]))).join(',')),
  ];
  return `${lines.join('\n')}\n`;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** "2026-11-27 18:25:42" in local time, or "2026-11-27 18:25:42Z" in UTC. */
export function formatTimestamp(d: Date, utc = false): string {
  if (utc) {
    return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(
      d.getUTCMinutes(),
    )}:${pad2(d.getUTCSeconds())}Z`;
  }
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(
    d.getMinutes(),
  )}:${pad2(d.getSeconds())}`;
}

/** A duration the way kubectl shows ages: 45s, 12m, 3h5m, 2d4h. Negative durations show as 0s. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 && m < 10 ? `${m}m${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
}

/** "1 event", "3 events". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** A Date from a driver value (Date, ISO text) or null. */
export function toDate(v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  const d = v instanceof Date ? v : new Date(String(v));
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Help text after the options: examples (a comment line, then the command) and a closing note. */
export function helpExamples(examples: [what: string, command: string][], footer?: string): string {
  const lines = ['', 'Examples:'];
  for (const [what, command] of examples) lines.push(`  # ${what}`, `  ${command}`);
  if (footer) lines.push('', footer);
  return lines.join('\n');
}

const guarded = new WeakSet<object>();
const brokenHandlers = new WeakMap<object, Set<() => void>>();

/**
 * Makes a closed reader (`gpu-scaler events | head`) end the output quietly instead of crashing
 * with an unhandled EPIPE: later writes go nowhere, and `onBroken` runs (e.g. to stop --follow).
 * Other stream errors are rethrown as before.
 */
export function onBrokenPipe(io: CliIo, onBroken?: () => void): void {
  const out = io.stdout as NodeJS.WritableStream & object;
  let handlers = brokenHandlers.get(out);
  if (!handlers) {
    handlers = new Set();
    brokenHandlers.set(out, handlers);
  }
  if (onBroken) handlers.add(onBroken);
  if (guarded.has(out)) return;
  guarded.add(out);
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    for (const h of brokenHandlers.get(out) ?? []) h();
  });
}
