import { EventDecodeError } from '../../events/registry';
import { ALL_PROJECTIONS } from '../../projections/index';
import type { ProjectedEvent, Projection, ProjectionRow } from '../../projections/projection';
import { GpuScalerError } from '../errors';
import { reached } from '../store/checkpoints';
import { copyText } from '../store/copy-text';
import { type Db, quoteIdent, type Sql } from '../store/db';
import {
  type Checkpoint,
  type EventStore,
  READ_HORIZON_SQL,
  START,
  type EventRow as StoreRow,
} from '../store/event-store';
import { EVENT_TIME_SQL } from '../store/event-time';
import { BloomFilter } from './bloom';
import { checkpointName } from './runner';

/**
 * The rebuild engine behind `gpu-scaler replay`: folds projections from the events again, from
 * position 0, without stopping the service.
 *
 * Full rebuild (no `until`): every projection is built into a side table (`workers__rebuild`,
 * created `like workers including all`) while the live table keeps serving and the live runner
 * keeps updating it. Events are streamed in batches (never all in memory) with the same catch-up
 * read as every subscriber (`(tx_id, global_position)` order, only transactions older than every
 * open one), and the checkpoint of what was consumed is kept. Then ONE transaction swaps the side
 * tables in; see `swapIn` for why that is safe while the live runner runs.
 *
 * As-of build (`until`): the same fold of the events up to a position or a time, into tables of a
 * separate schema (`asof_20261127_182600`, `asof_pos_1234`); the live tables and checkpoints are not
 * touched.
 *
 * The rows are those of the incremental projections: the same pure `evolve` over the same events in
 * the same order, and rows written from the same JSON by the same conversion rules
 * (json_populate_record, the json twin of writer.ts's jsonb_populate_recordset). What differs is
 * how often the database is asked: a target table belongs to the rebuild alone, so the rows it
 * touched recently stay in a bounded cache, new keys are known new without a query, and each
 * table is written once per batch of events, behind the reading (see TableBuilder and build).
 */

// biome-ignore lint/suspicious/noExplicitAny: a list of projections of different row types, as ALL_PROJECTIONS
export type AnyProjection = Projection<any>;

export type Until = { kind: 'position'; position: number } | { kind: 'time'; time: Date };

export interface RebuildProgress {
  phase: 'build' | 'swap';
  /** Events read so far. */
  events: number;
  batches: number;
  /** The position of the last event read. */
  position: number;
  /** The highest position in the store when the rebuild started (an estimate of the total). */
  headPosition: number;
  elapsedMs: number;
}

export interface RebuildOptions {
  /** Default: every projection (ALL_PROJECTIONS). */
  projections?: readonly AnyProjection[];
  /** Build the state as of this position/time into a separate schema instead of swapping. */
  until?: Until;
  /** The as-of schema's name (default asof_<yyyymmdd_hhmmss> in UTC, or asof_pos_<n>). */
  into?: string;
  /** Events per write batch: each table gets one upsert per batch (default 5000). */
  batchSize?: number;
  /**
   * Events per read (default 1000, at most batchSize). Each chunk read is folded at once, so its
   * events die young (cheap for the garbage collector) while the batch's rows wait to be written.
   */
  readSize?: number;
  /** Rows kept in memory per projection between batches (default 2,000). */
  cacheRows?: number;
  /** Called after every read (a few times a second at most is up to the caller) and before the swap. */
  onProgress?: (p: RebuildProgress) => void;
  /**
   * Runs between batches and is awaited (tests append events and run the live runner here). It may
   * use the store freely: the rebuild holds no transaction open while it runs.
   */
  betweenBatches?: (p: RebuildProgress) => Promise<void>;
  /**
   * Runs after the build, before the swap transaction (tests append events and run the live runner
   * here: exactly the window the swap's catch-up must cover).
   */
  beforeSwap?: () => Promise<void>;
  /** `lock_timeout` of the swap transaction (default '30s'): never wait forever for a long reader. */
  lockTimeout?: string;
  /**
   * Batches being folded and written while the next one is read (default 2). More overlaps more,
   * and holds more batches in memory.
   */
  maxInFlight?: number;
  /** Write the build's batches with synchronous_commit off (server only; default true). */
  asyncCommit?: boolean;
  /** Filled with where the time went (sums of each step's wall time; steps overlap). */
  profile?: RebuildProfile;
}

/** Milliseconds spent in each step, summed (reads, folds and writes overlap, so these add up to more). */
export interface RebuildProfile {
  /** Read queries, including the driver's JSON parsing. */
  readMs: number;
  /** zod validation and upcasting (store.decode). */
  decodeMs: number;
  /** keyOf + evolve. */
  foldMs: number;
  /** Reading back rows the cache did not have. */
  loadMs: number;
  /** JSON.stringify of the changed rows. */
  stringifyMs: number;
  /** The write transactions (COPY, upsert, delete of every table), one a batch. */
  writeMs: number;
  /** The swap transaction, catch-up included. */
  swapMs: number;
  /** Time the build waited for a read to arrive (nothing else to do). */
  waitReadMs: number;
  /** Time the build waited for earlier batches' writes (maxInFlight reached). */
  waitWriteMs: number;
}

export const emptyProfile = (): RebuildProfile => ({
  readMs: 0,
  decodeMs: 0,
  foldMs: 0,
  loadMs: 0,
  stringifyMs: 0,
  writeMs: 0,
  swapMs: 0,
  waitReadMs: 0,
  waitWriteMs: 0,
});

export interface RebuiltTable {
  projection: string;
  /** The table's name in `schema`. */
  table: string;
  /** Rows in the table when the rebuild ended (counted while building, not with count(*)). */
  rows: number;
  /** Events this projection folded. */
  events: number;
}

export interface RebuildResult {
  mode: 'swap' | 'as-of';
  /** Where the tables are: the store's schema after a swap, the as-of schema otherwise. */
  schema: string;
  tables: RebuiltTable[];
  /** Events read (of the projections' eventTypes; no other is read), in the build and in the swap transaction. */
  events: number;
  /** Of those, the events committed during the build and applied inside the swap transaction. */
  caughtUp: number;
  /** Where the rebuilt projections stand (the checkpoint stored for them after a swap). */
  checkpoint: Checkpoint;
  /** The highest position the rebuild got to (0 when none); events of other types count too. */
  lastPosition: number;
  until?: Until;
  seconds: number;
  eventsPerSecond: number;
}

export class RebuildError extends GpuScalerError {
  constructor(message: string) {
    super('REBUILD', message);
    this.name = 'RebuildError';
  }
}

const DEFAULT_BATCH = 5000;
const DEFAULT_READ = 1000;
const DEFAULT_CACHE_ROWS = 2_000;
const DEFAULT_IN_FLIGHT = 2;
/** Advisory lock namespace of replays (2000 is append_events' stream locks). */
const REPLAY_LOCK = 2001;
const SIDE_SUFFIX = '__rebuild';
/**
 * Storage parameters of a table while it is built: no autovacuum. Vacuuming a table that grows by
 * thousands of rows a second would only compete with the build for the server's CPU, and the swap
 * (ACCESS EXCLUSIVE) would wait up to deadlock_timeout for an autovacuum worker to give way. The
 * table gets the live table's own parameters back when it is swapped in (see swapTable), and
 * autovacuum then visits it as any table that just took many rows.
 */
const BUILD_OPTIONS = 'with (autovacuum_enabled = false)';
/** Marks schemas made by replay --until: only those are ever dropped and rebuilt. */
const ASOF_MARK = 'gpu-scaler replay:';

/**
 * The columns a rebuild reads: what a projection may see of an event (ProjectedEvent), the schema
 * version to upcast its data, and the transaction id for the checkpoint. Not metadata, stream or
 * recorded_at: the driver would parse them for every event and no fold could use them.
 */
const COLUMNS = `global_position, event_id::text as event_id, event_type, schema_version, data, tx_id::text as tx_id`;

type EventRow = Pick<StoreRow, 'global_position' | 'event_id' | 'event_type' | 'schema_version' | 'data' | 'tx_id'>;

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Rows as read, not yet decoded, and the checkpoint after the last one. */
interface RawChunk {
  rows: EventRow[];
  /**
   * Where the read got to: after the last row, or (when reading only some event types and the
   * read came back short) after the last committed event of any type, which the rows skipped.
   */
  checkpoint: Checkpoint;
}

/**
 * The catch-up read of event-store.ts (`readBatch`) with an optional as-of filter: the next rows
 * after a checkpoint in (tx_id, global_position) order, only from transactions older than every
 * open one, so nothing committed late is ever skipped. Decoding is left to the caller, so the next
 * read can be on its way while this one is decoded.
 *
 * With `types`, only events of those types come back (the projections' eventTypes: the server
 * skips the rest, which no fold would use). So that the checkpoint still passes the skipped
 * events (the live runner's checkpoint may be past them, and the swap checks we reached it), the
 * same statement, under the same snapshot, also returns the last committed event of any type
 * (`tail`): when the page comes back short, everything up to the tail has been seen.
 */
async function readRows(
  sql: Sql,
  after: Checkpoint,
  limit: number,
  until: Until | undefined,
  prof: RebuildProfile,
  types?: readonly string[],
): Promise<RawChunk> {
  const params: unknown[] = [after.txId, after.position, limit];
  let filter = '';
  if (until?.kind === 'position') {
    params.push(until.position);
    filter = `and global_position <= $${params.length}`;
  } else if (until?.kind === 'time') {
    params.push(until.time.toISOString());
    filter = `and ${EVENT_TIME_SQL} <= $${params.length}::timestamptz`;
  }
  let typeFilter = '';
  if (types) {
    params.push(types);
    typeFilter = `and event_type = any($${params.length}::text[])`;
  }
  const visibleAfter = `((tx_id::text)::bigint, global_position) > ($1::bigint, $2::bigint)
        and tx_id < ${READ_HORIZON_SQL}`;
  const page = `select ${COLUMNS}, false as tail from events
      where ${visibleAfter} ${filter} ${typeFilter}
      order by (tx_id::text)::bigint, global_position
      limit $3`;
  // The tail only matters to a full rebuild (an as-of build keeps no checkpoint).
  const withTail = types && !until;
  const text = withTail
    ? `select * from ((${page})
       union all
       (select ${COLUMNS}, true as tail from events where ${visibleAfter}
         order by (tx_id::text)::bigint desc, global_position desc limit 1)) u
       order by u.tail, u.tx_id::bigint, u.global_position`
    : page;
  const t0 = performance.now();
  const all = await sql.query<EventRow & { tail: boolean }>(text, params);
  prof.readMs += performance.now() - t0;
  const tail = withTail && all.length > 0 && all[all.length - 1].tail ? all.pop() : undefined; // sorted last
  const rows: EventRow[] = all;
  const last = rows.length === limit || !tail ? rows[rows.length - 1] : tail;
  return { rows, checkpoint: last ? { txId: last.tx_id, position: last.global_position } : after };
}

/** Upcasts and validates rows with the store's registry (zod), as every reader of the store does. */
function decodeRows(store: EventStore, rows: EventRow[], prof: RebuildProfile): ProjectedEvent[] {
  const t0 = performance.now();
  const events: ProjectedEvent[] = [];
  for (const r of rows) {
    try {
      events.push({ globalPosition: r.global_position, eventId: r.event_id, ...store.read(r) });
    } catch (err) {
      // no schema reads it: quarantined and skipped, as every reader of the store does
      if (!(err instanceof EventDecodeError)) throw err;
      store.quarantineRow(r, err.reason);
    }
  }
  prof.decodeMs += performance.now() - t0;
  return events;
}

/** Runs a batch's writes: straight on a connection, or in a transaction of their own. */
type WriteScope = (fn: (sql: Sql) => Promise<void>) => Promise<void>;

/** A cached row (null: no row) and the last batch that touched it. */
interface CacheEntry {
  row: ProjectionRow | null;
  gen: number;
}

/** What one batch changed in one table, ready to write. */
export interface Changes {
  gen: number;
  /** Rows of keys that never had a row: loaded with COPY (COPY text; null when none). */
  inserts: Buffer | null;
  /** Rows of keys that may have one: an upsert (JSON array; '' when none). */
  upserts: string;
  rows: number;
  deletes: string[];
}

/**
 * One projection's target table during a rebuild. The table starts empty and is the rebuild's
 * alone, so what it holds is known without asking:
 * - rows touched recently stay in `cache` (null: known to have no row);
 * - a Bloom filter of every key ever given a row tells a new key from one evicted from the cache,
 *   so only keys that may have a row and are not cached are read back (rarely: a worker's events
 *   come close together);
 * - a batch is folded as soon as it is decoded (its events can then be collected at once) and
 *   its changes are written behind, one upsert and at most one delete per batch, in batch order;
 * - an entry leaves the cache only once the write of its last change has committed, so a read
 *   back always finds the latest row.
 */
class TableBuilder {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly written: BloomFilter;
  private readonly upsertSql: string;
  private readonly jsonColumns: Set<string>;
  private readonly selectSql: string;
  private readonly deleteSql: string;
  /** Changes of the open batch (null: delete the row). */
  private dirty = new Map<string, ProjectionRow | null>();
  /** Keys of the open batch that had never been given a row before it: not in the table. */
  private fresh = new Set<string>();
  /** Batches closed so far; the open batch is sealed + 1. */
  private sealed = 0;
  private committed = 0;
  private folds: Promise<unknown> = Promise.resolve();
  events = 0;
  /**
   * Rows the table holds once every folded batch is written: each key's first row counts one,
   * a deleted row minus one (the cache always holds a touched key's latest state, so no count(*)).
   */
  rows = 0;

  constructor(
    readonly p: AnyProjection,
    /** Schema-qualified, quoted. */
    readonly target: string,
    /** Each column's SQL type (columnTypes). */
    types: ReadonlyMap<string, string>,
    expectedKeys: number,
    private readonly cacheRows: number,
    private readonly prof: RebuildProfile,
  ) {
    this.written = new BloomFilter(expectedKeys);
    const key = p.key;
    const keyType = types.get(key);
    if (!keyType) throw new RebuildError(`table ${target} has no column ${key}`);
    this.jsonColumns = new Set(p.columns.filter((c) => /^jsonb?$/.test(types.get(c) ?? '')));
    const cols = p.columns.join(', ');
    const updates = p.columns
      .filter((c) => c !== key)
      .map((c) => `${c} = excluded.${c}`)
      .join(', ');
    // Upserts: the rows' JSON as src/projections/writer.ts sends it, turned into columns by the same
    // rules (json_populate_record is jsonb_populate_record's twin for json). One element at a time,
    // which PostgreSQL does faster than jsonb_populate_recordset over the whole array.
    // Rows of new keys (most of a rebuild) are loaded with COPY instead (copy-text.ts converts by
    // the same rules), which costs the server a fraction of these upserts.
    this.upsertSql = `insert into ${target} (${cols})
       select ${p.columns.map((c) => `r.${c}`).join(', ')}
         from json_array_elements($1::text::json) e, json_populate_record(null::${target}, e.value) r
       on conflict (${key}) do update set ${updates}`;
    // Keys compared in the key's own type, so the primary key index is used (compared as text, an
    // integer key would mean a scan of the table per batch).
    this.selectSql = `select to_jsonb(t) as r from ${target} t where t.${key} = any($1::text[]::${keyType}[])`;
    this.deleteSql = `delete from ${target} where ${key} = any($1::text[]::${keyType}[])`;
  }

  /** Folds events into the cached rows (after the folds before), as changes of the open batch. */
  add(sql: Sql, events: readonly ProjectedEvent[]): void {
    const folded = this.folds.then(() => this.fold(sql, events));
    folded.catch(() => {}); // surfaces through take()
    this.folds = folded;
  }

  /** Closes the open batch: once its folds are done, its changes (the next fold waits for them). */
  take(): Promise<Changes> {
    const changes = this.folds.then(() => this.takeChanges());
    this.folds = changes;
    return changes;
  }

  /** Applies events to the cached rows and records what changed in the open batch. */
  private async fold(sql: Sql, events: readonly ProjectedEvent[]): Promise<void> {
    const p = this.p;
    const prof = this.prof;
    const gen = this.sealed + 1; // the open batch
    let t0 = performance.now();
    // Pass 1: each event's key. Every key this batch touches is pinned in the cache (gen), so no
    // write that finishes while rows are read back below can evict it.
    const keys: (string | null)[] = new Array(events.length);
    const load: string[] = [];
    for (let i = 0; i < events.length; i++) {
      const k = p.keyOf(events[i]);
      keys[i] = k;
      if (k === null) continue;
      const entry = this.cache.get(k);
      if (entry) {
        entry.gen = gen;
        this.cache.delete(k); // most recently used last
        this.cache.set(k, entry);
        continue;
      }
      if (this.written.has(k)) load.push(k);
      else this.fresh.add(k);
      this.cache.set(k, { row: null, gen }); // no row (a row read back replaces this)
    }
    if (load.length) {
      const t1 = performance.now();
      prof.foldMs += t1 - t0;
      const rows = await sql.query<{ r: ProjectionRow }>(this.selectSql, [load]);
      for (const { r } of rows) {
        const entry = this.cache.get(String(r[p.key]));
        if (!entry) {
          throw new RebuildError(
            `${p.name}: read back a row keyed ${String(r[p.key])}, which keyOf never returned (keyOf must return the key column's text)`,
          );
        }
        entry.row = r;
      }
      t0 = performance.now();
      prof.loadMs += t0 - t1;
    }
    // Pass 2: the fold.
    let folded = 0;
    for (let i = 0; i < events.length; i++) {
      const k = keys[i];
      if (k === null) continue;
      const entry = this.cache.get(k) as CacheEntry;
      const next = p.evolve(entry.row ?? undefined, events[i]) ?? null;
      if (next !== null && entry.row === null) {
        this.written.add(k); // the key has a row now
        this.rows++;
      } else if (next === null && entry.row !== null) this.rows--;
      entry.row = next;
      this.dirty.set(k, next);
      folded++;
    }
    this.events += folded;
    prof.foldMs += performance.now() - t0;
  }

  /** The open batch's changes as the statements' parameters; opens the next batch. */
  private takeChanges(): Changes {
    const t0 = performance.now();
    const inserts: ProjectionRow[] = [];
    const upserts: ProjectionRow[] = [];
    const deletes: string[] = [];
    for (const [k, row] of this.dirty) {
      const fresh = this.fresh.has(k);
      if (row !== null) (fresh ? inserts : upserts).push(row);
      else if (!fresh) deletes.push(k);
    }
    this.dirty = new Map();
    this.fresh = new Set();
    const gen = ++this.sealed;
    const json = (rows: ProjectionRow[]) => (rows.length ? JSON.stringify(rows) : '');
    const changes = {
      gen,
      inserts: inserts.length ? copyText(inserts, this.p.columns, this.jsonColumns) : null,
      upserts: json(upserts),
      rows: inserts.length + upserts.length,
      deletes,
    };
    this.prof.stringifyMs += performance.now() - t0;
    return changes;
  }

  /** Writes one batch's changes (one COPY, one upsert, one delete at most) on the caller's transaction. */
  async write(sql: Sql, c: Changes): Promise<void> {
    if (c.inserts) await sql.copyIn(this.target, this.p.columns, c.inserts);
    if (c.upserts) await sql.query(this.upsertSql, [c.upserts]);
    if (c.deletes.length) await sql.query(this.deleteSql, [c.deletes]);
  }

  /** The batch `gen` and those before it have committed: their rows may leave the cache. */
  committedUpTo(gen: number): void {
    this.committed = gen;
    this.trimCache();
  }

  /**
   * Keeps the cache near cacheRows once a batch is written: the least recently used entries go
   * first (entries are in the order they were last touched), and the first one touched by a batch
   * not yet written ends the sweep (it, and every entry after it, must stay: see fold).
   */
  private trimCache(): void {
    let excess = this.cache.size - this.cacheRows;
    for (const [k, entry] of this.cache) {
      if (excess <= 0 || entry.gen > this.committed) break;
      this.cache.delete(k);
      excess--;
    }
  }
}

/** The format_type of each of a table's columns, e.g. 'integer', 'text', 'jsonb'. */
async function columnTypes(sql: Sql, qualifiedTable: string): Promise<Map<string, string>> {
  const rows = await sql.query<{ c: string; t: string }>(
    `select a.attname as c, format_type(a.atttypid, a.atttypmod) as t from pg_attribute a
      where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped`,
    [qualifiedTable],
  );
  return new Map(rows.map((r) => [r.c, r.t]));
}

async function tableExists(sql: Sql, schema: string, table: string): Promise<boolean> {
  const rows = await sql.query<{ ok: boolean }>(
    `select exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                     where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')) as ok`,
    [schema, table],
  );
  return rows[0].ok;
}

/** The name of the as-of schema: asof_pos_<n>, or asof_<yyyymmdd_hhmmss> of the time in UTC. */
export function asOfSchemaName(until: Until): string {
  if (until.kind === 'position') return `asof_pos_${until.position}`;
  const iso = until.time.toISOString(); // 2026-11-27T18:26:00.000Z
  const name = `asof_${iso.slice(0, 10).replace(/-/g, '')}_${iso.slice(11, 19).replace(/:/g, '')}`;
  const ms = until.time.getUTCMilliseconds();
  return ms ? `${name}_${String(ms).padStart(3, '0')}` : name;
}

function describeUntil(until: Until): string {
  return until.kind === 'position' ? `position ${until.position}` : until.time.toISOString();
}

/**
 * Runs fn while holding the replay lock of this schema, so two replays never share side tables.
 * On a server it is a transaction-scoped advisory lock in a transaction that stays open (and writes
 * nothing, so it takes no transaction id and holds no catch-up reader back) for the whole rebuild.
 * PGlite is one connection in one process: nothing can run beside us there.
 */
async function withReplayLock<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  if (db.kind === 'pglite') return fn();
  let result: T | undefined;
  await db.transaction(async (tx) => {
    const [{ ok }] = await tx.query<{ ok: boolean }>('select pg_try_advisory_xact_lock($1, hashtext($2)) as ok', [
      REPLAY_LOCK,
      `replay:${db.schema}`,
    ]);
    if (!ok) throw new RebuildError(`another replay is running on schema ${db.schema}; try again when it is done`);
    result = await fn();
  });
  return result as T;
}

/** Rebuilds projections from the events: a full rebuild swapped in, or an as-of build aside. */
export async function rebuildProjections(store: EventStore, opts: RebuildOptions = {}): Promise<RebuildResult> {
  const db = store.db;
  const projections = opts.projections ?? ALL_PROJECTIONS;
  if (projections.length === 0) throw new RebuildError('no projection to rebuild');
  if (opts.until?.kind === 'position' && (!Number.isSafeInteger(opts.until.position) || opts.until.position < 0)) {
    throw new RebuildError(`until position must be an integer >= 0, got ${opts.until.position}`);
  }
  if (opts.until?.kind === 'time' && Number.isNaN(opts.until.time.getTime())) {
    throw new RebuildError('until time is not a valid date');
  }
  return withReplayLock(db, () =>
    opts.until ? buildAsOf(store, projections, opts) : rebuildAndSwap(store, projections, opts),
  );
}

interface BuildState {
  builders: TableBuilder[];
  /** The event types the builders fold (the union of their eventTypes): all a read needs. */
  types: string[];
  /** The builders that fold each event type. */
  routes: Map<string, TableBuilder[]>;
  prof: RebuildProfile;
  /** How the build writes (the swap writes in its own transaction). */
  scope: WriteScope;
  /** The last batch's write: each batch is written after the one before. */
  lastWrite: Promise<unknown>;
  checkpoint: Checkpoint;
  events: number;
  batches: number;
  lastPosition: number;
  headPosition: number;
  started: number;
}

/** A builder for one projection into `target`, a fresh table like the projection's own. */
async function tableBuilder(
  sql: Sql,
  p: AnyProjection,
  target: string,
  headPosition: number,
  opts: RebuildOptions,
  prof: RebuildProfile,
): Promise<TableBuilder> {
  const types = await columnTypes(sql, target);
  return new TableBuilder(p, target, types, headPosition, opts.cacheRows ?? DEFAULT_CACHE_ROWS, prof);
}

/** A build before its first read. */
function startState(
  db: Db,
  builders: TableBuilder[],
  projections: readonly AnyProjection[],
  prof: RebuildProfile,
  opts: RebuildOptions,
  headPosition: number,
  started: number,
): BuildState {
  return {
    builders,
    types: eventTypesOf(projections),
    routes: routesOf(builders),
    prof,
    scope: writeScope(db, opts),
    lastWrite: Promise.resolve(),
    checkpoint: START,
    events: 0,
    batches: 0,
    lastPosition: 0,
    headPosition,
    started,
  };
}

/** Which builders fold each event type (their projections' eventTypes). */
function routesOf(builders: readonly TableBuilder[]): Map<string, TableBuilder[]> {
  const routes = new Map<string, TableBuilder[]>();
  for (const b of builders) {
    for (const type of b.p.eventTypes) routes.set(type, [...(routes.get(type) ?? []), b]);
  }
  return routes;
}

/** Hands each builder the events of its projection's types, in order (keyOf never sees the rest). */
function foldInto(state: BuildState, sql: Sql, events: readonly ProjectedEvent[]): void {
  const parts = new Map<TableBuilder, ProjectedEvent[]>();
  for (const e of events) {
    for (const b of state.routes.get(e.type) ?? []) {
      const part = parts.get(b);
      if (part) part.push(e);
      else parts.set(b, [e]);
    }
  }
  for (const [b, part] of parts) b.add(sql, part);
}

/** The union of the projections' event types, sorted (one prepared statement for every rebuild). */
export function eventTypesOf(projections: readonly AnyProjection[]): string[] {
  return [...new Set(projections.flatMap((p) => p.eventTypes))].sort();
}

/** Moves the build's checkpoint (and the highest position seen) to where a read got to. */
function advance(state: BuildState, cp: Checkpoint): void {
  state.checkpoint = cp;
  if (cp.position > state.lastPosition) state.lastPosition = cp.position;
}

/**
 * Streams events into the builders. Events are read in chunks (readSize), the next chunk while
 * this one is decoded and folded; every batchSize events the batch is sealed and its changes to
 * every table are written in one transaction, in batch order, while reading goes on. At most
 * maxInFlight batches wait to be written, so memory is bounded by the batch size, never by the
 * store's size.
 */
async function build(store: EventStore, state: BuildState, opts: RebuildOptions): Promise<void> {
  const db = store.db;
  const batchSize = opts.batchSize ?? DEFAULT_BATCH;
  const readSize = Math.min(batchSize, opts.readSize ?? DEFAULT_READ);
  const maxInFlight = opts.maxInFlight ?? DEFAULT_IN_FLIGHT;
  const fetch = (cp: Checkpoint) => {
    const p = readRows(db, cp, readSize, opts.until, state.prof, state.types);
    p.catch(() => {}); // awaited below; never an unhandled rejection while we wait for others
    return p;
  };
  const progress = (): RebuildProgress => ({
    phase: 'build',
    events: state.events,
    batches: state.batches,
    position: state.lastPosition,
    headPosition: state.headPosition,
    elapsedMs: Date.now() - state.started,
  });
  const inFlight: Promise<unknown>[] = [];
  let open = 0; // events folded into the open batch
  const seal = async () => {
    if (open === 0) return;
    open = 0;
    state.batches += 1;
    const written = sealBatch(state, state.scope);
    inFlight.push(written);
    if (inFlight.length >= maxInFlight) {
      const t0 = performance.now();
      await inFlight.shift();
      state.prof.waitWriteMs += performance.now() - t0;
    }
  };
  let next = fetch(state.checkpoint);
  try {
    for (;;) {
      const t0 = performance.now();
      const chunk = await next;
      state.prof.waitReadMs += performance.now() - t0;
      if (chunk.rows.length === 0) {
        advance(state, chunk.checkpoint); // past the events of other types after the last one read
        break;
      }
      next = fetch(chunk.checkpoint);
      // Decoded and folded now, while the next chunk is read: its events are garbage before it comes.
      const events = decodeRows(store, chunk.rows, state.prof);
      foldInto(state, db, events);
      open += events.length;
      state.events += events.length;
      for (const e of events) if (e.globalPosition > state.lastPosition) state.lastPosition = e.globalPosition;
      advance(state, chunk.checkpoint);
      opts.onProgress?.(progress());
      if (open < batchSize) continue;
      await seal();
      if (opts.betweenBatches) {
        // Hooks see a quiet rebuild: the batches before have been written.
        await Promise.all(inFlight.splice(0));
        await opts.betweenBatches(progress());
      }
    }
    await seal();
  } finally {
    await Promise.allSettled([next, ...inFlight]);
  }
  await Promise.all(inFlight);
}

/**
 * Closes the open batch of every builder and writes their changes, after the batch before, in one
 * transaction (scope): one writer at a time, so the server's CPU goes to the next read first.
 * Resolves when the batch has committed.
 */
function sealBatch(state: BuildState, scope: WriteScope): Promise<void> {
  const builders = state.builders;
  const changes = Promise.all(builders.map((b) => b.take()));
  const written = Promise.all([changes, state.lastWrite]).then(async ([cs]) => {
    if (cs.some((c) => c.rows || c.deletes.length)) {
      const t0 = performance.now();
      await scope(async (sql) => {
        for (let i = 0; i < builders.length; i++) await builders[i].write(sql, cs[i]);
      });
      state.prof.writeMs += performance.now() - t0;
    }
    for (let i = 0; i < builders.length; i++) builders[i].committedUpTo(cs[i].gen);
  });
  written.catch(() => {}); // awaited by the caller
  state.lastWrite = written;
  return written;
}

/**
 * How the build writes its tables. On a server each batch is its own short transaction
 * with synchronous_commit off: nothing waits for the disk per batch, and a crash loses at most
 * a rebuild that starts over anyway (the swap commits normally). Short, because a transaction
 * with a transaction id holds back every catch-up reader (the xmin rule), the live runner too.
 */
function writeScope(db: Db, opts: RebuildOptions): WriteScope {
  if (db.kind === 'pglite' || opts.asyncCommit === false) return (fn) => fn(db);
  return (fn) =>
    db.transaction(async (tx) => {
      await tx.exec('set local synchronous_commit = off');
      await fn(tx);
    });
}

function result(
  mode: RebuildResult['mode'],
  schema: string,
  state: BuildState,
  tableName: (b: TableBuilder) => string,
  caughtUp: number,
  until?: Until,
): RebuildResult {
  const seconds = (Date.now() - state.started) / 1000;
  return {
    mode,
    schema,
    tables: state.builders.map((b) => ({
      projection: b.p.name,
      table: tableName(b),
      rows: b.rows,
      events: b.events,
    })),
    events: state.events,
    caughtUp,
    checkpoint: state.checkpoint,
    lastPosition: state.lastPosition,
    ...(until ? { until } : {}),
    seconds,
    eventsPerSecond: seconds > 0 ? state.events / seconds : state.events,
  };
}

async function buildAsOf(
  store: EventStore,
  projections: readonly AnyProjection[],
  opts: RebuildOptions,
): Promise<RebuildResult> {
  const db = store.db;
  const until = opts.until as Until;
  const schema = opts.into ?? asOfSchemaName(until);
  quoteIdent(schema);
  if (schema === db.schema) throw new RebuildError(`the as-of schema cannot be the store's own schema (${schema})`);
  const started = Date.now();
  const prof = opts.profile ?? emptyProfile();
  const existing = await db.query<{ comment: string | null }>(
    `select obj_description(oid, 'pg_namespace') as comment from pg_namespace where nspname = $1`,
    [schema],
  );
  if (existing[0] && !existing[0].comment?.startsWith(ASOF_MARK)) {
    throw new RebuildError(`schema ${schema} exists and was not made by replay; choose another name (--into)`);
  }
  const head = await store.headPosition();
  const headPosition = until.kind === 'position' ? Math.min(until.position, head) : head;
  const builders: TableBuilder[] = [];
  await db.transaction(async (tx) => {
    if (existing[0]) await tx.exec(`drop schema ${q(schema)} cascade`);
    await tx.exec(`create schema ${q(schema)}`);
    const comment = `${ASOF_MARK} projections as of ${describeUntil(until)}, built ${new Date().toISOString()}`;
    await tx.exec(`comment on schema ${q(schema)} is '${comment.replace(/'/g, "''")}'`);
    for (const p of projections) {
      const target = `${q(schema)}.${q(p.table)}`;
      await tx.exec(`create table ${target} (like ${q(db.schema)}.${q(p.table)} including all) ${BUILD_OPTIONS}`);
      builders.push(await tableBuilder(tx, p, target, headPosition, opts, prof));
    }
  });
  const state = startState(db, builders, projections, prof, opts, headPosition, started);
  try {
    await build(store, state, opts);
  } catch (err) {
    await db.exec(`drop schema if exists ${q(schema)} cascade`).catch(() => {});
    throw err;
  }
  for (const b of builders) await db.exec(`alter table ${b.target} reset (autovacuum_enabled)`);
  return result('as-of', schema, state, (b) => b.p.table, 0, until);
}

/** Index names of a table by their definition without name and table (`CREATE INDEX ON … (status)`). */
async function indexesByDefinition(sql: Sql, qualifiedTable: string): Promise<Map<string, string>> {
  const rows = await sql.query<{ name: string; def: string }>(
    `select c.relname as name,
            regexp_replace(pg_get_indexdef(i.indexrelid), '^CREATE (UNIQUE )?INDEX \\S+ ON (ONLY )?\\S+ ', 'CREATE \\1INDEX ON ') as def
       from pg_index i join pg_class c on c.oid = i.indexrelid
      where i.indrelid = $1::regclass`,
    [qualifiedTable],
  );
  return new Map(rows.map((r) => [r.def, r.name]));
}

/** One `name=value` of pg_class.reloptions as it is written in ALTER TABLE … SET (…). */
function storageOption(option: string): string {
  const eq = option.indexOf('=');
  const name = option.slice(0, eq);
  if (!/^[a-z_][a-z0-9_.]*$/.test(name)) throw new RebuildError(`unexpected storage parameter ${option}`);
  return `${name} = '${option.slice(eq + 1).replace(/'/g, "''")}'`;
}

/**
 * Replaces a live table by its rebuilt side table inside the caller's transaction: the old table
 * goes, the side table takes its name, its indexes (and so the primary key constraint) take the
 * old indexes' names, and the old table's grants and storage parameters are given again. A later migration or
 * rebuild finds exactly the names migrations/0003 made. Objects that depend on the live table
 * (a view, say) make the drop fail: the transaction rolls back and the live table stays.
 */
async function swapTable(tx: Sql, schema: string, live: string, side: string): Promise<void> {
  const liveQ = `${q(schema)}.${q(live)}`;
  const sideQ = `${q(schema)}.${q(side)}`;
  const oldIndexes = await indexesByDefinition(tx, liveQ);
  const [{ options }] = await tx.query<{ options: string[] }>(
    `select coalesce(reloptions, '{}') as options from pg_class where oid = $1::regclass`,
    [liveQ],
  );
  const grants = await tx.query<{ privilege_type: string; role: string | null; grantable: boolean }>(
    `select a.privilege_type, case when a.grantee = 0 then null else pg_get_userbyid(a.grantee) end as role,
            a.is_grantable as grantable
       from pg_class c, aclexplode(c.relacl) a
      where c.oid = $1::regclass and a.grantee <> c.relowner`,
    [liveQ],
  );
  await tx.exec(`drop table ${liveQ}`);
  await tx.exec(`alter table ${sideQ} rename to ${q(live)}`);
  // The live table's storage parameters (an operator's fillfactor, say), not the build's.
  await tx.exec(`alter table ${liveQ} reset (autovacuum_enabled)`);
  if (options.length) await tx.exec(`alter table ${liveQ} set (${options.map(storageOption).join(', ')})`);
  const newIndexes = await indexesByDefinition(tx, liveQ);
  for (const [def, name] of newIndexes) {
    const oldName = oldIndexes.get(def);
    if (oldName && oldName !== name) await tx.exec(`alter index ${q(schema)}.${q(name)} rename to ${q(oldName)}`);
  }
  for (const g of grants) {
    await tx.exec(
      `grant ${g.privilege_type} on table ${liveQ} to ${g.role === null ? 'public' : q(g.role)}${g.grantable ? ' with grant option' : ''}`,
    );
  }
}

async function rebuildAndSwap(
  store: EventStore,
  projections: readonly AnyProjection[],
  opts: RebuildOptions,
): Promise<RebuildResult> {
  const db = store.db;
  const schema = db.schema;
  const started = Date.now();
  const prof = opts.profile ?? emptyProfile();
  const names = projections.map(checkpointName);
  const builders: TableBuilder[] = [];
  const headPosition = await store.headPosition();

  // Side tables: leftovers of a rebuild that died are ours to drop (we hold the replay lock).
  for (const p of projections) {
    if (!(await tableExists(db, schema, p.table))) {
      throw new RebuildError(`projection table ${schema}.${p.table} does not exist (run gpu-scaler migrate)`);
    }
    const side = `${p.table}${SIDE_SUFFIX}`;
    const target = `${q(schema)}.${q(side)}`;
    await db.exec(`drop table if exists ${target}`);
    await db.exec(`create table ${target} (like ${q(schema)}.${q(p.table)} including all) ${BUILD_OPTIONS}`);
    builders.push(await tableBuilder(db, p, target, headPosition, opts, prof));
  }
  // The checkpoint rows exist before the swap locks them (a missing row reads as START, and the
  // runner's advanceCheckpoint from START matches a START row), so the swap never races an insert.
  await db.query(`insert into projection_checkpoints (name) select unnest($1::text[]) on conflict (name) do nothing`, [
    names,
  ]);

  const state = startState(db, builders, projections, prof, opts, headPosition, started);
  let caughtUp = 0;
  try {
    await build(store, state, opts);
    const t1 = performance.now();
    await opts.beforeSwap?.();
    opts.onProgress?.({
      phase: 'swap',
      events: state.events,
      batches: state.batches,
      position: state.lastPosition,
      headPosition: state.headPosition,
      elapsedMs: Date.now() - started,
    });
    caughtUp = await db.transaction((tx) => swapIn(tx, store, state, names, opts));
    prof.swapMs += performance.now() - t1;
  } catch (err) {
    for (const b of builders) await db.exec(`drop table if exists ${b.target}`).catch(() => {});
    throw err;
  }
  return result('swap', schema, state, (b) => b.p.table, caughtUp);
}

/**
 * The swap, in ONE transaction (the caller's):
 *
 * 1. Lock the projections' checkpoint rows (`for update`, in name order). The live runner moves a
 *    checkpoint and writes its table in one transaction, checkpoint row first. So either it holds
 *    the row now, and we wait until its batch has committed (and then read its new checkpoint), or
 *    we hold it, and its next batch blocks on the row and, once we commit, finds the checkpoint is
 *    no longer the one it read from: advanceCheckpoint's `where` fails, it rolls back and reloads
 *    our checkpoint. Either way no batch of the runner is half in and half out of what we swap.
 * 2. Lock the live tables in ACCESS EXCLUSIVE mode: readers wait the few milliseconds of the swap
 *    instead of seeing a table that is not there. The order (checkpoint rows, then tables) is the
 *    runner's own order, and we take every row before any table, so the two cannot deadlock.
 * 3. Catch the side tables up: read after our build checkpoint, inside this transaction, until
 *    nothing more is committed. A batch the runner committed between our last read and the lock is
 *    in the events table like any other and is read here. Events committed after this point belong
 *    to transactions this read cannot see yet; they lie after our checkpoint in (tx_id, position)
 *    order, so the runner applies them later, to the new table.
 * 4. Check that our checkpoint has reached every stored one (it must: we read everything committed
 *    before the lock; a failure rolls everything back and leaves the live tables as they were).
 * 5. Drop the live tables, rename the side tables (and their indexes) to the live names.
 * 6. Store our checkpoint as every rebuilt projection's checkpoint.
 * Commit makes 5 and 6 visible at once: the runner continues from our checkpoint on our table.
 */
async function swapIn(
  tx: Sql,
  store: EventStore,
  state: BuildState,
  names: string[],
  opts: RebuildOptions,
): Promise<number> {
  const schema = store.db.schema;
  await tx.exec(`set local lock_timeout = '${(opts.lockTimeout ?? '30s').replace(/'/g, '')}'`);
  const stored = await tx.query<{ name: string; tx_id: string; global_position: number }>(
    `select name, tx_id::text as tx_id, global_position from projection_checkpoints
      where name = any($1::text[]) order by name for update`,
    [names],
  );
  const live = state.builders.map((b) => `${q(schema)}.${q(b.p.table)}`);
  await tx.exec(`lock table ${live.join(', ')} in access exclusive mode`);

  let caughtUp = 0;
  const batchSize = opts.batchSize ?? DEFAULT_BATCH;
  for (;;) {
    const chunk = await readRows(tx, state.checkpoint, batchSize, undefined, state.prof, state.types);
    if (chunk.rows.length === 0) {
      advance(state, chunk.checkpoint);
      break;
    }
    const batch = { events: decodeRows(store, chunk.rows, state.prof), checkpoint: chunk.checkpoint };
    foldInto(state, tx, batch.events);
    await sealBatch(state, (fn) => fn(tx));
    state.events += batch.events.length;
    caughtUp += batch.events.length;
    for (const e of batch.events) if (e.globalPosition > state.lastPosition) state.lastPosition = e.globalPosition;
    advance(state, batch.checkpoint);
  }
  for (const s of stored) {
    if (!reached(state.checkpoint, s.tx_id, s.global_position)) {
      throw new RebuildError(
        `checkpoint ${s.name} (${s.tx_id}/${s.global_position}) is ahead of the rebuild ` +
          `(${state.checkpoint.txId}/${state.checkpoint.position}); nothing was swapped, run replay again`,
      );
    }
  }
  for (const b of state.builders) await swapTable(tx, schema, b.p.table, `${b.p.table}${SIDE_SUFFIX}`);
  await tx.query(
    `update projection_checkpoints set tx_id = $2::xid8, global_position = $3, updated_at = now()
      where name = any($1::text[])`,
    [names, state.checkpoint.txId, state.checkpoint.position],
  );
  return caughtUp;
}
