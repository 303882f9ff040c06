import type { Projection, ProjectionRow } from '../../projections/projection';
import type { Sql } from '../store/db';
import type { StoredEvent } from '../store/event-store';

/** Reads the current rows for some keys, as JSON values (timestamps as ISO strings). */
async function loadRows<R extends ProjectionRow>(
  tx: Sql,
  p: Projection<R>,
  keys: string[],
  table: string,
): Promise<Map<string, R>> {
  const rows = await tx.query<{ r: R }>(
    `select to_jsonb(t) as r from ${table} t where t.${p.key} = any($1::text[]::${p.keyType ?? 'text'}[])`,
    [keys],
  );
  return new Map(rows.map(({ r }) => [String(r[p.key]), r]));
}

/**
 * Applies a batch of events to a projection's table inside the caller's transaction: one read of
 * the touched rows, the pure fold in memory, one upsert and at most one delete.
 * `table` overrides the target (replay builds into a side table).
 */
export async function applyToTable<R extends ProjectionRow>(
  tx: Sql,
  p: Projection<R>,
  events: readonly StoredEvent[],
  table = p.table,
): Promise<number> {
  const touched: StoredEvent[] = [];
  const keys = new Set<string>();
  for (const e of events) {
    const k = p.keyOf(e);
    if (k === null) continue;
    touched.push(e);
    keys.add(k);
  }
  if (touched.length === 0) return 0;
  const rows = await loadRows(tx, p, [...keys], table);
  const deleted = new Set<string>();
  for (const e of touched) {
    const k = p.keyOf(e) as string;
    const next = p.evolve(rows.get(k), e);
    if (next === undefined) {
      rows.delete(k);
      deleted.add(k);
    } else {
      rows.set(k, next);
      deleted.delete(k);
    }
  }
  const changed = [...keys].filter((k) => rows.has(k)).map((k) => rows.get(k) as R);
  if (changed.length) {
    const cols = p.columns.join(', ');
    const updates = p.columns
      .filter((c) => c !== p.key)
      .map((c) => `${c} = excluded.${c}`)
      .join(', ');
    await tx.query(
      `insert into ${table} (${cols})
       select ${cols} from jsonb_populate_recordset(null::${table}, $1::text::jsonb)
       on conflict (${p.key}) do update set ${updates}`,
      [JSON.stringify(changed)],
    );
  }
  if (deleted.size) {
    await tx.query(`delete from ${table} where ${p.key} = any($1::text[]::${p.keyType ?? 'text'}[])`, [[...deleted]]);
  }
  return touched.length;
}
