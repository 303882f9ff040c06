/**
 * Rows as COPY's text format: one line per row, columns separated by tabs, NULL as \N, and
 * backslash, newline, carriage return and tab escaped. Values convert the way
 * json(b)_populate_record converts the same JSON (what projections/writer.ts sends), so a table
 * loaded by COPY equals one written from JSON: null is NULL, a json/jsonb column gets the value's
 * JSON (a string too), any other column the value's text (each type's input function parses it).
 */

const SPECIAL = /[\\\n\r\t]/;
const SPECIALS = /[\\\n\r\t]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeCopy(s: string): string {
  return SPECIAL.test(s) ? s.replace(SPECIALS, (c) => ESCAPES[c]) : s;
}

/** JSON text as a COPY field: JSON.stringify never leaves a raw tab, newline or CR, only backslashes. */
function jsonField(value: unknown): string {
  const text = JSON.stringify(value);
  return text.includes('\\') ? text.replace(/\\/g, '\\\\') : text;
}

/** One field; `json`: the column is json or jsonb. */
export function copyField(value: unknown, json: boolean): string {
  if (value === null || value === undefined) return '\\N';
  if (json) return jsonField(value);
  switch (typeof value) {
    case 'string':
      return escapeCopy(value);
    case 'number':
    case 'bigint':
      return String(value);
    case 'boolean':
      return value ? 't' : 'f';
    default:
      // an object in a non-JSON column: its JSON text, as json_populate_record would try
      return jsonField(value);
  }
}

/**
 * The COPY text of rows (objects keyed by column) as UTF-8 bytes. Each line is built as one string
 * and written into one growing buffer: one native write per row, not one per field.
 * `jsonColumns`: which columns are json/jsonb.
 */
export function copyText(
  rows: readonly Record<string, unknown>[],
  columns: readonly string[],
  jsonColumns: ReadonlySet<string>,
): Buffer {
  const json = columns.map((c) => jsonColumns.has(c));
  const last = columns.length - 1;
  let buf = Buffer.allocUnsafe(Math.max(1024, rows.length * columns.length * 16));
  let at = 0;
  for (const row of rows) {
    let line = copyField(row[columns[0]], json[0]);
    for (let i = 1; i <= last; i++) line += `\t${copyField(row[columns[i]], json[i])}`;
    line += '\n';
    const need = at + line.length * 3; // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (need > buf.length) {
      const next = Buffer.allocUnsafe(Math.max(need, buf.length * 2));
      buf.copy(next, 0, 0, at);
      buf = next;
    }
    at += buf.write(line, at);
  }
  return buf.subarray(0, at);
}
