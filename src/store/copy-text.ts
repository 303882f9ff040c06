/**
 * Rows as COPY's text format: one line per row, columns separated by tabs, NULL as \N, and
 * backslash, newline, carriage return and tab escaped. Values convert the way
 * json(b)_populate_record converts the same JSON (what src/projections/writer.ts sends), so a table
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
function copyField(value: unknown, json: boolean): string {
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

const TAB = 9;
const NEWLINE = 10;
const ZERO = 48;
const MINUS = 45;

/**
 * A growing buffer the fields are written into as they are made: no string per line or per
 * separator, and integers as digits without a string at all. (Building each line as a string
 * first cost a third of a rebuild's allocations: the pieces, the joins, then the flat copy.)
 */
class CopyBuffer {
  buf: Buffer;
  at = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(1024, size));
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.at + bytes, this.buf.length * 2));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.at++] = b;
  }

  text(s: string): void {
    const n = s.length;
    this.room(n * 3); // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (n <= 32) {
      // short ASCII (most fields): byte by byte costs less than a call into the runtime
      const buf = this.buf;
      const at = this.at;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 127) break;
        buf[at + i] = c;
      }
      if (i === n) {
        this.at = at + n;
        return;
      }
    }
    this.at += this.buf.write(s, this.at);
  }

  /** A safe integer's digits, as String(n) writes them (-0 too: "0"). */
  integer(n: number): void {
    this.room(17);
    let v = n;
    if (v < 0) {
      this.buf[this.at++] = MINUS;
      v = -v;
    }
    let digits = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
    let at = this.at + digits;
    this.at = at;
    do {
      this.buf[--at] = ZERO + (v % 10);
      v = Math.floor(v / 10);
    } while (v > 0);
  }
}

/**
 * The COPY text of rows (objects keyed by column) as UTF-8 bytes. `jsonColumns`: which columns
 * are json/jsonb.
 */
export function copyText(
  rows: readonly Record<string, unknown>[],
  columns: readonly string[],
  jsonColumns: ReadonlySet<string>,
): Buffer {
  const json = columns.map((c) => jsonColumns.has(c));
  const last = columns.length - 1;
  const out = new CopyBuffer(rows.length * columns.length * 16);
  for (const row of rows) {
    for (let i = 0; i <= last; i++) {
      const value = row[columns[i]];
      if (typeof value === 'number' && !json[i] && Number.isSafeInteger(value)) {
        out.integer(value);
      } else {
        out.text(copyField(value, json[i]));
      }
      out.byte(i === last ? NEWLINE : TAB);
    }
  }
  return out.buf.subarray(0, out.at);
}
