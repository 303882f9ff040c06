import { EventDecodeError, type EventRegistry } from '../../events/registry';
import type { Db, Row, Sql } from './db';
import { ConcurrencyError, EventIdConflictError, type ExpectedVersion } from './errors';
import {
  type AppendResult,
  type Checkpoint,
  checkAppendArgs,
  type EventRow,
  EventStore,
  type NewEvent,
  type ReadBatch,
  repeatedEventId,
  type StoredEvent,
} from './event-store';
import { MemoryReads } from './reads-memory';

/**
 * A fast in-memory event store, for simulations (`gpu-scaler simulate`): the same API as the SQL
 * store (it is an EventStore), with events in arrays and the projection tables as maps. A PGlite
 * store in memory spends about 19 ms of CPU per control cycle in its queries; this one well under
 * a millisecond, so a simulated day runs in seconds.
 *
 * Semantics kept from the SQL store, proven by the API part of the store contract
 * (test/store/store.memory.test.ts): one global order, stream versions and expected-version checks
 * (ConcurrencyError), idempotent appends by event id (a retry returns the original positions, a
 * different event with a used id is an EventIdConflictError; ids are uuids compared as the uuid
 * column does, data as jsonb does), validation and redaction of every event, checkpoints and
 * subscriptions, and transactions that commit or roll back whole: a transaction that throws
 * leaves none of its writes (events, checkpoints, table rows), so a failing transactional handler
 * is undone as on SQL.
 *
 * Different by design: one transaction at a time, as on PGlite's one connection: while one is
 * open, every other caller (an append, a read, a query, another transaction) waits for it, and
 * only its body's view of the store and the database goes on (so its body must use that view, the
 * `tx` it is given, as it must on PGlite). So every committed event is visible to catch-up readers
 * at once, and tx ids grow with positions (one per append, also inside a transaction). Reads hand
 * out the events decoded at append, not copies: a caller must not change them.
 *
 * What the control loop and the reactor read of the record goes through typed reads
 * (`store.reads`, ControlReads): here MemoryReads (reads-memory.ts), on the indexes kept below
 * (events by type, table rows by status). The store's own machinery (subscriptions' checkpoints,
 * the projections' writer) still calls `db.query` with its SQL; `MemoryDb` answers exactly those
 * statements from memory and refuses any other with an error naming it.
 */

export interface MemEvent {
  /** Null when no schema reads the row (only a row put in with insertUnvalidated): readers skip it. */
  event: StoredEvent | null;
  row: EventRow;
  /** Why the row cannot be read (with a null event). */
  error?: string;
}

/** The transaction open now, and what undoes its writes (newest last). */
interface OpenTx {
  done: Promise<void>;
  undo: (() => void)[];
}

type Handler = (m: RegExpExecArray, params: readonly unknown[]) => Row[];

const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
const EMPTY_KEYS: ReadonlySet<string> = new Set();
const NO_EVENTS: readonly MemEvent[] = [];

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What PostgreSQL's uuid input takes: 32 hex digits in any case, a hyphen allowed after any group of four. */
const PG_UUID = /^(?:[0-9a-f]{4}-?){7}[0-9a-f]{4}$/i;

/**
 * An event id as the events table's uuid column keeps it (lower case, 8-4-4-4-12), so that ids
 * compare as they do there; anything PostgreSQL would not take as a uuid fails with its message.
 */
function uuidText(id: string): string {
  if (CANONICAL_UUID.test(id)) return id;
  const text = String(id);
  const inner = text.startsWith('{') && text.endsWith('}') ? text.slice(1, -1) : text;
  if (!PG_UUID.test(inner)) throw new Error(`invalid input syntax for type uuid: "${text}"`);
  const hex = inner.replace(/-/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** JSON text with every object's keys sorted: equal for values jsonb holds equal, whatever their key order. */
const sortedJson = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );

/** Rows as `to_jsonb` gives them: plain JSON values (dates as ISO strings). */
const jsonRow = (r: unknown): Row => JSON.parse(JSON.stringify(r)) as Row;

export class MemoryDb implements Db {
  readonly kind = 'memory' as const;
  readonly schema = 'memory';
  readonly events: MemEvent[] = [];
  readonly checkpoints = new Map<string, Checkpoint>();
  /** Projection tables: table -> key -> row (JSON values). */
  readonly tables = new Map<string, Map<string, Row>>();
  /**
   * The keys of each table's rows by their `status` (tables with that column: the workers), so
   * that the live ones are found without walking every row the table ever had.
   */
  private readonly byStatus = new Map<string, Map<string, Set<string>>>();
  /** Events by type, each list in position order: what the typed reads look back at. */
  private readonly byType = new Map<string, MemEvent[]>();
  private readonly handlers: [RegExp, Handler][];
  /** The one transaction open now (a second one, and any query from outside it, waits for it). */
  private openTx?: OpenTx;
  /** True on the view a transaction's body runs with: its queries are the transaction's own. */
  readonly isTxView: boolean = false;

  constructor() {
    this.handlers = [
      [
        /^select tx_id::text as tx_id, global_position from projection_checkpoints where name = \$1$/,
        (_m, p) => {
          const cp = this.checkpoints.get(String(p[0]));
          return cp ? [{ tx_id: cp.txId, global_position: cp.position }] : [];
        },
      ],
      [
        /^insert into projection_checkpoints as c/,
        (_m, p) => {
          const [name, fromTx, fromPos, toTx, toPos] = p;
          const cur = this.checkpoints.get(String(name));
          if (cur && (cur.txId !== String(fromTx) || cur.position !== Number(fromPos))) return [];
          const key = String(name);
          if (this.openTx) this.remember(() => (cur ? this.checkpoints.set(key, cur) : this.checkpoints.delete(key)));
          this.checkpoints.set(key, { txId: String(toTx), position: Number(toPos) });
          return [{ name }];
        },
      ],
      [
        /^select to_jsonb\(t\) as r from (\w+) t where t\.(\w+) = any\(/,
        (m, p) => {
          const t = this.table(m[1]);
          return asList(p[0]).flatMap((k) => (t.has(k) ? [{ r: t.get(k) }] : []));
        },
      ],
      [
        /^insert into (\w+) \(([^)]*)\)\s+select [\s\S]*jsonb_populate_recordset[\s\S]*on conflict \((\w+)\)/,
        (m, p) => {
          const key = m[3];
          for (const r of JSON.parse(String(p[0])) as Row[]) {
            const k = String(r[key]);
            if (this.openTx) this.rememberRow(m[1], k);
            this.putRow(m[1], k, jsonRow(r));
          }
          return [];
        },
      ],
      [
        /^delete from (\w+) where (\w+) = any\(/,
        (m, p) => {
          for (const k of asList(p[0])) {
            if (this.openTx) this.rememberRow(m[1], k);
            this.putRow(m[1], k, undefined);
          }
          return [];
        },
      ],
    ];
  }

  table(name: string): Map<string, Row> {
    let t = this.tables.get(name);
    if (!t) {
      t = new Map();
      this.tables.set(name, t);
    }
    return t;
  }

  /** The keys of a table's rows whose `status` is `status`. */
  keysWithStatus(table: string, status: string): ReadonlySet<string> {
    return this.byStatus.get(table)?.get(status) ?? EMPTY_KEYS;
  }

  /** Puts (or, with undefined, deletes) one row of a table, keeping the status index. */
  private putRow(table: string, k: string, row: Row | undefined): void {
    const t = this.table(table);
    const old = t.get(k);
    if (old && 'status' in old) this.byStatus.get(table)?.get(String(old.status))?.delete(k);
    if (row === undefined) {
      t.delete(k);
      return;
    }
    t.set(k, row);
    if (!('status' in row)) return;
    let index = this.byStatus.get(table);
    if (!index) {
      index = new Map();
      this.byStatus.set(table, index);
    }
    const status = String(row.status);
    let keys = index.get(status);
    if (!keys) {
      keys = new Set();
      index.set(status, keys);
    }
    keys.add(k);
  }

  /** The stored events of one type, in position order. */
  ofType(type: string): readonly MemEvent[] {
    return this.byType.get(type) ?? NO_EVENTS;
  }

  /** Adds an event at the end of the record (and of its type's list). */
  push(m: MemEvent): void {
    this.events.push(m);
    let list = this.byType.get(m.row.event_type);
    if (!list) {
      list = [];
      this.byType.set(m.row.event_type, list);
    }
    list.push(m);
  }

  /** Removes every event after position `mark` (a failed transaction's), from the record and its type's list. */
  truncate(mark: number): void {
    for (let i = this.events.length - 1; i >= mark; i--) this.byType.get(this.events[i].row.event_type)?.pop();
    this.events.length = Math.min(this.events.length, mark);
  }

  /** Index of the first event with a position above `position` (positions are 1..n, in order). */
  firstAfter(position: number): number {
    return Math.max(0, Math.min(this.events.length, Math.floor(position)));
  }

  /** Inside a transaction: keeps `undo` to run should the transaction fail. */
  remember(undo: () => void): void {
    this.openTx?.undo.push(undo);
  }

  private rememberRow(table: string, k: string): void {
    const prev = this.table(table).get(k);
    this.remember(() => this.putRow(table, k, prev));
  }

  /** True while a transaction is open. */
  get inTransaction(): boolean {
    return this.openTx !== undefined;
  }

  /** True when a transaction is open and the caller is not in it: it must wait (`idle`). */
  mustWait(): boolean {
    return this.openTx !== undefined && !this.isTxView;
  }

  /** Resolves when no transaction is open. */
  async idle(): Promise<void> {
    while (this.openTx) await this.openTx.done;
  }

  /**
   * Runs `fn` as the one open transaction, on a view of this database whose queries do not wait
   * for it (as PGlite's one connection: others wait). If `fn` throws, every write it made (rows,
   * checkpoints, and events: the store registers their undo) is undone, newest first.
   */
  async atomic<T>(fn: (tx: MemoryDb) => Promise<T>): Promise<T> {
    if (this.isTxView) return fn(this);
    await this.idle();
    let finish!: () => void;
    const open: OpenTx = {
      done: new Promise<void>((r) => {
        finish = r;
      }),
      undo: [],
    };
    this.openTx = open;
    try {
      return await fn(Object.create(this, { isTxView: { value: true } }) as MemoryDb);
    } catch (err) {
      for (let i = open.undo.length - 1; i >= 0; i--) open.undo[i]();
      throw err;
    } finally {
      this.openTx = undefined;
      finish();
    }
  }

  async query<T = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    if (this.mustWait()) await this.idle();
    const sql = text.trim();
    for (const [re, handle] of this.handlers) {
      const m = re.exec(sql);
      if (m) return handle(m, params) as T[];
    }
    throw new Error(
      `the in-memory store does not answer this statement (teach src/store/memory.ts, or use a SQL store): ${sql.slice(0, 200)}`,
    );
  }

  async exec(script: string): Promise<void> {
    throw new Error(`the in-memory store runs no scripts: ${script.slice(0, 100)}`);
  }

  async copyIn(table: string): Promise<void> {
    throw new Error(`the in-memory store takes no COPY (into ${table})`);
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.atomic(fn);
  }

  async listen(): Promise<() => Promise<void>> {
    return async () => {};
  }

  async close(): Promise<void> {}
}

export interface MemoryStoreOptions {
  /** Ids of events appended without one (default: random UUIDs; a simulation passes seeded ones). */
  newId?: () => string;
  /** The time recorded on each event (default: now; a simulation passes its clock). */
  now?: () => Date;
}

/** An EventStore kept in memory (see MemoryDb). */
export class MemoryEventStore extends EventStore {
  readonly mem: MemoryDb;
  private readonly byStream = new Map<string, MemEvent[]>();
  private readonly byId = new Map<string, MemEvent>();
  private readonly now: () => Date;
  /** True on the view a transaction's body runs with (see MemoryDb.atomic). */
  private readonly isTxView: boolean = false;

  constructor(registry: EventRegistry, opts: MemoryStoreOptions = {}) {
    const db = new MemoryDb();
    super(db, registry);
    this.mem = db;
    if (opts.newId) this.newEventId = opts.newId;
    this.now = opts.now ?? (() => new Date());
  }

  /** Every event, in position order (without those no schema reads). */
  all(): readonly StoredEvent[] {
    return this.mem.events.flatMap((e) => (e.event ? [e.event] : []));
  }

  /**
   * Puts in a row as a raw INSERT into the SQL store's events table would: not validated, decoded
   * when read. What the store contract uses to give every store a row no schema reads, which every
   * reader must then skip and quarantine (tryDecode) as the SQL stores do.
   */
  insertUnvalidated(r: { streamId: string; type: string; schemaVersion: number; data: unknown }): number {
    const stream = this.byStream.get(r.streamId) ?? [];
    const position = this.mem.events.length + 1;
    const row: EventRow = {
      global_position: position,
      stream_id: r.streamId,
      stream_version: stream.length + 1,
      event_id: uuidText(this.newEventId()),
      event_type: r.type,
      schema_version: r.schemaVersion,
      data: r.data,
      metadata: {},
      tx_id: String(position),
      recorded_at: this.now(),
    };
    let m: MemEvent;
    try {
      m = { row, event: super.decode(row) };
    } catch (err) {
      m = { row, event: null, error: err instanceof EventDecodeError ? err.reason : (err as Error).message };
    }
    this.mem.push(m);
    stream.push(m);
    this.byStream.set(r.streamId, stream);
    this.byId.set(row.event_id, m);
    return position;
  }

  /** The control loop's reads, on this store's arrays and maps (on a transaction's view: inside it). */
  override get reads(): MemoryReads {
    return new MemoryReads(this);
  }

  /** The events of these stored rows, quarantining (and leaving out) those no schema reads. */
  readable(ms: readonly MemEvent[]): StoredEvent[] {
    const out: StoredEvent[] = [];
    for (const m of ms) {
      if (m.event) out.push(m.event);
      else this.quarantineRow(m.row, m.error ?? 'no schema reads it');
    }
    return out;
  }

  override async listen(): Promise<void> {}

  override async close(): Promise<void> {
    this.signals.removeAllListeners();
  }

  /**
   * Runs fn as the one open transaction, with a view of this store (its appends and reads do not
   * wait for the transaction; everyone else's do). If fn throws, its appends are undone with the
   * rest of its writes: their positions, versions and event ids are free again.
   */
  override async transaction<T>(fn: (store: EventStore) => Promise<T>): Promise<T> {
    if (this.isTxView) return fn(this);
    return this.mem.atomic((tx) =>
      fn(Object.create(this, { isTxView: { value: true }, sql: { value: tx }, mem: { value: tx } })),
    );
  }

  /** Undoes every append after position `mark` (a failed transaction's). */
  private truncate(mark: number): void {
    const all = this.mem.events;
    for (let i = all.length - 1; i >= mark; i--) {
      const r = all[i].row;
      const stream = this.byStream.get(r.stream_id);
      if (stream) {
        stream.length = r.stream_version - 1;
        if (stream.length === 0) this.byStream.delete(r.stream_id);
      }
      this.byId.delete(r.event_id);
    }
    this.mem.truncate(mark);
  }

  override async append(
    streamId: string,
    events: readonly NewEvent[],
    opts: { expectedVersion?: ExpectedVersion } = {},
  ): Promise<AppendResult> {
    if (this.mem.mustWait() && !this.isTxView) await this.mem.idle();
    const expected = opts.expectedVersion ?? 'any';
    checkAppendArgs(streamId, events.length, expected);
    const payload = events.map((e) => {
      const { schemaVersion, data } = this.registry.encode(e.type, this.redactData(e.type, e.data));
      const metadata = this.redactMetadata(e.metadata ?? {});
      return { eventId: uuidText(e.eventId ?? this.newEventId()), type: e.type, schemaVersion, data, metadata };
    });
    const twice = repeatedEventId(payload.map((p) => p.eventId));
    if (twice !== null) throw new EventIdConflictError(streamId, [twice]);
    // idempotency by event id
    const seen = payload.map((p) => this.byId.get(p.eventId));
    if (seen.some((s) => s !== undefined)) {
      const same = seen.every(
        (s, i) =>
          s !== undefined &&
          s.row.stream_id === streamId &&
          s.row.event_type === payload[i].type &&
          sortedJson(s.row.data) === sortedJson(payload[i].data),
      );
      if (!same)
        throw new EventIdConflictError(
          streamId,
          payload.filter((_, i) => seen[i]).map((p) => p.eventId),
        );
      const rows = seen as MemEvent[];
      return {
        nextExpectedVersion: rows[rows.length - 1].row.stream_version,
        globalPositions: rows.map((r) => r.row.global_position),
        txId: rows[rows.length - 1].row.tx_id,
        duplicate: true,
      };
    }
    const stream = this.byStream.get(streamId) ?? [];
    const version = stream.length;
    const ok =
      expected === 'any' ||
      (expected === 'no_stream' && version === 0) ||
      (expected === 'stream_exists' && version > 0) ||
      (typeof expected === 'number' && expected === version);
    if (!ok) throw new ConcurrencyError(streamId, expected, version);
    const mark = this.mem.events.length;
    if (this.mem.inTransaction) this.mem.remember(() => this.truncate(mark));
    const txId = String(mark + 1);
    const recordedAt = this.now();
    const positions: number[] = [];
    payload.forEach((p, i) => {
      const row: EventRow = {
        global_position: this.mem.events.length + 1,
        stream_id: streamId,
        stream_version: version + i + 1,
        event_id: p.eventId,
        event_type: p.type,
        schema_version: p.schemaVersion,
        data: p.data,
        metadata: p.metadata,
        tx_id: txId,
        recorded_at: recordedAt,
      };
      const m: MemEvent = { row, event: super.decode(row) };
      // decoding parsed the encoded data again (the schemas have no transforms): keep one copy of
      // it, not two, for every event of a run that keeps them all
      row.data = m.event?.data;
      this.mem.push(m);
      stream.push(m);
      this.byId.set(p.eventId, m);
      positions.push(row.global_position);
    });
    this.byStream.set(streamId, stream);
    this.signals.emit('appended', streamId);
    this.signals.emit('wake');
    return { nextExpectedVersion: version + payload.length, globalPositions: positions, txId, duplicate: false };
  }

  /** Rows handed out by MemoryDb are decoded once, at append. */
  override decode(r: EventRow): StoredEvent {
    const m = this.mem.events[r.global_position - 1];
    if (m && m.row === r && m.event) return m.event;
    return super.decode(r);
  }

  override async streamVersion(streamId: string): Promise<number> {
    if (this.mem.mustWait() && !this.isTxView) await this.mem.idle();
    return this.byStream.get(streamId)?.length ?? 0;
  }

  override async readStream(
    streamId: string,
    opts: { fromVersion?: number; limit?: number } = {},
  ): Promise<StoredEvent[]> {
    if (this.mem.mustWait() && !this.isTxView) await this.mem.idle();
    const from = Math.max(1, opts.fromVersion ?? 1);
    return this.readable((this.byStream.get(streamId) ?? []).slice(from - 1, from - 1 + (opts.limit ?? 1_000_000_000)));
  }

  override async readStreamTail(streamId: string, count: number): Promise<StoredEvent[]> {
    if (this.mem.mustWait() && !this.isTxView) await this.mem.idle();
    const s = this.byStream.get(streamId) ?? [];
    return this.readable(s.slice(Math.max(0, s.length - count)));
  }

  override async readBatch(
    after: Checkpoint,
    limit = 1000,
    types?: readonly string[],
    streams?: readonly string[],
  ): Promise<ReadBatch> {
    if (this.mem.mustWait() && !this.isTxView) await this.mem.idle();
    const all = this.mem.events;
    const wanted = types ? new Set(types) : null;
    const inStreams = streams ? new Set(streams) : null;
    const page: MemEvent[] = [];
    let i = this.mem.firstAfter(after.position);
    for (; i < all.length && page.length < limit; i++) {
      const row = all[i].row;
      if ((!wanted || wanted.has(row.event_type)) && (!inStreams || inStreams.has(row.stream_id))) page.push(all[i]);
    }
    // a short page has seen everything after the checkpoint: it moves to the last event (a
    // quarantined one too, as on SQL: the checkpoint passes it)
    const last = page.length < limit ? all[all.length - 1]?.row : page[page.length - 1]?.row;
    const through = last && last.global_position > after.position ? last : undefined;
    const events = this.readable(page);
    return { events, checkpoint: through ? { txId: through.tx_id, position: through.global_position } : after };
  }

  override async headPosition(): Promise<number> {
    if (this.mem.mustWait() && !this.isTxView) await this.mem.idle();
    return this.mem.events.length;
  }
}
