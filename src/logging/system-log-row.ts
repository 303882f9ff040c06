import { messageText, metadataOf } from './format';

/** One row of `system_logs` as sent to the database (the identity `id` is assigned there). */
export interface SystemLogRow {
  created_at: string;
  source_type: string;
  source_id: string;
  log_level: string;
  message: string;
  worker_id: string | null;
  cycle_number: number | null;
  metadata: Record<string, unknown>;
}

/**
 * One multi-row INSERT per batch: the rows travel as one JSON text parameter (cast in SQL, see
 * store/db.ts) and keep their order, so ids follow the order of the log calls.
 */
export const INSERT_SYSTEM_LOGS = `
insert into system_logs (created_at, source_type, source_id, log_level, message, worker_id, cycle_number, metadata)
select coalesce(created_at, now()), source_type, source_id, log_level, message, worker_id, cycle_number,
       coalesce(metadata, '{}'::jsonb)
  from rows from (jsonb_to_recordset($1::text::jsonb) as (
         created_at timestamptz, source_type text, source_id text, log_level text, message text,
         worker_id text, cycle_number integer, metadata jsonb))
       with ordinality as x(created_at, source_type, source_id, log_level, message, worker_id, cycle_number, metadata, ord)
 order by ord`;

const INT4_MIN = -2147483648;
const INT4_MAX = 2147483647;

/** Postgres refuses NUL characters in text and jsonb, and lone UTF-16 surrogates in jsonb. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what Postgres refuses
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function storable(text: string): string {
  return text.replace(UNSTORABLE, '\uFFFD');
}

/** A copy of a JSON value whose strings (keys too) Postgres accepts. Values are already JSON-shaped (see redact.ts). */
function storableJson(value: unknown, path = new Set<object>()): unknown {
  if (typeof value === 'string') return storable(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value !== 'object' || value === null) return value;
  if (path.has(value)) return '[Circular]';
  if (path.size >= 20) return '[Too deep]';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  path.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => storableJson(v, path));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      out[storable(k)] = storableJson(v, path);
    }
    return out;
  } finally {
    path.delete(value);
  }
}

function timestampOf(value: unknown): string {
  if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return value;
  return new Date().toISOString();
}

/**
 * Maps a winston entry to a row: `cycle` -> cycle_number (when it is an int4), `workerId` ->
 * worker_id (a string or number), everything else the caller passed -> metadata. A `cycle` or
 * `workerId` that does not fit its column stays in metadata.
 */
export function toSystemLogRow(info: Record<string, unknown>, sourceType: string, sourceId: string): SystemLogRow {
  const meta = metadataOf(info);
  let cycleNumber: number | null = null;
  if (Number.isInteger(meta.cycle) && (meta.cycle as number) >= INT4_MIN && (meta.cycle as number) <= INT4_MAX) {
    cycleNumber = meta.cycle as number;
    delete meta.cycle;
  } else if (meta.cycle === null) {
    delete meta.cycle;
  }
  let workerId: string | null = null;
  if (typeof meta.workerId === 'string' || typeof meta.workerId === 'number') {
    workerId = storable(String(meta.workerId));
    delete meta.workerId;
  } else if (meta.workerId === null) {
    delete meta.workerId;
  }
  return {
    created_at: timestampOf(info.timestamp),
    source_type: storable(sourceType),
    source_id: storable(sourceId),
    log_level: storable(String(info.level)),
    message: storable(messageText(info.message)),
    worker_id: workerId,
    cycle_number: cycleNumber,
    metadata: storableJson(meta) as Record<string, unknown>,
  };
}
