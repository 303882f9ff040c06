import type { EventShape } from '../events/define';
import type { AppEvent } from '../events/index';

/**
 * What a projection may read of an event: its position, id, type and (decoded) data. Nothing
 * else, so a rebuild reads only these columns from the store; the store's StoredEvent is one.
 * Declared here, not imported from src/store: this folder holds pure definitions that depend on
 * nothing that runs. One member of the union `E` (every event by default): a switch on `type`
 * narrows `data`.
 */
export type ProjectedEvent<E extends EventShape = AppEvent> = { globalPosition: number; eventId: string } & E;

/** A projection row: plain JSON values (timestamps as ISO strings), one column per key. */
export type ProjectionRow = Record<string, string | number | boolean | null | object>;

/**
 * A projection: a pure fold of events into rows of one table, keyed by one column.
 * `evolve(row, event)` is pure; the writer (src/projections/writer.ts) applies it batch by batch with the
 * checkpoint in the same transaction, and `foldAll` gives what the table must equal.
 */
export interface Projection<R extends ProjectionRow = ProjectionRow> {
  name: string;
  table: string;
  /** The primary key column. */
  key: keyof R & string;
  /** Its SQL type, so lookups by key use the primary key index (default text). */
  keyType?: 'text' | 'integer';
  /** Every column, in table order. */
  columns: readonly (keyof R & string)[];
  /**
   * Every event type keyOf can return a key for. A rebuild reads only these types from the store
   * (the server skips the rest), so a type missing here is never folded by a rebuild.
   */
  eventTypes: readonly string[];
  /** The row an event touches, or null when the event does not concern this projection. */
  keyOf(event: ProjectedEvent): string | null;
  /** The next state of that row (undefined: no row). */
  evolve(row: R | undefined, event: ProjectedEvent): R | undefined;
}

/** Pure: the whole table as the fold of these events. */
export function foldAll<R extends ProjectionRow>(p: Projection<R>, events: Iterable<ProjectedEvent>): Map<string, R> {
  const rows = new Map<string, R>();
  for (const e of events) {
    const k = p.keyOf(e);
    if (k === null) continue;
    const next = p.evolve(rows.get(k), e);
    if (next === undefined) rows.delete(k);
    else rows.set(k, next);
  }
  return rows;
}

/** The key of a row of one pool's cycle (a decision, a health summary): `<pool>:<cycle>`. */
export const poolCycleKey = (pool: string, cycle: number): string => `${pool}:${cycle}`;
