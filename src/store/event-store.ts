import { createHash, randomUUID } from 'node:crypto';
import EventEmitter from 'eventemitter3';
import { z } from 'zod';
import type { EventDefinition, EventOf, EventShape, NewEventOf } from '../../events/define';
import type { AppEvent, AppEventDefinition, AppNewEvent } from '../../events/index';
import { EventQuarantined, QUARANTINE_STREAM } from '../../events/quarantine';
import { EventDecodeError, type EventRegistry } from '../../events/registry';
import { hasCode } from '../errors';
import { makeRedactor, type Redactor, redactBySchema } from '../logging/redact';
import { type AppendRow, appendRows } from './append';
import type { Db, Sql } from './db';
import { EventIdConflictError, type ExpectedVersion, mapAppendError } from './errors';
import { type ControlReads, SqlReads } from './reads';

export interface EventMetadata {
  cycle?: number;
  correlationId?: string;
  causationId?: string;
  [key: string]: unknown;
}

/**
 * Where an event's metadata can hold free text: anything but the store's own fields (a cycle
 * number, event ids), which redaction never touches (see EventStore.redactMetadata).
 */
const METADATA_TEXT = z.looseObject({ cycle: z.number().optional(), correlationId: z.uuid(), causationId: z.uuid() });

/**
 * An event to append: one member of the union `N` (by default every event gpu-scaler writes), so
 * `type` must be a literal the registry knows and `data` must fit that type's schema.
 */
export type NewEvent<N extends EventShape = AppNewEvent> = N & {
  /** A stable id makes a retry idempotent; a fresh uuid is made when absent. */
  eventId?: string;
  metadata?: EventMetadata;
};

/** What the store keeps around every event's `type` and `data`. */
export interface EventEnvelope {
  globalPosition: number;
  streamId: string;
  streamVersion: number;
  eventId: string;
  schemaVersion: number;
  metadata: EventMetadata;
  txId: string;
  recordedAt: Date;
}

/**
 * A stored event, upcast and validated: the envelope and one member of the union `E` (by default
 * every event gpu-scaler reads), so a switch on `type` narrows `data` with no cast.
 */
export type StoredEvent<E extends EventShape = AppEvent> = EventEnvelope & E;

export interface AppendResult {
  /** The stream's version after the append (for the next expectedVersion). */
  nextExpectedVersion: number;
  globalPositions: number[];
  /** The writing transaction (xid8 as text): with a position, where a checkpoint must reach. */
  txId: string;
  /** True when every event was already stored: a retry that wrote nothing. */
  duplicate: boolean;
}

/** Where a catch-up reader stands: the last (tx_id, global_position) it processed. */
export interface Checkpoint {
  txId: string;
  position: number;
}

export const START: Checkpoint = Object.freeze({ txId: '0', position: 0 });

export interface ReadBatch<E extends EventShape = AppEvent> {
  events: StoredEvent<E>[];
  /** The checkpoint after the last event (unchanged when the batch is empty). */
  checkpoint: Checkpoint;
}

export const EVENTS_CHANNEL = 'gpu_scaler_events';

/**
 * The NOTIFY channel of the store in `schema`: channels are per database, so stores in other
 * schemas of the same database (another deployment, a test) do not wake each other. A plain
 * lower-case identifier (PGlite's LISTEN does not quote the name); a hash when the schema is long.
 */
export function eventsChannel(schema: string): string {
  const name = `${EVENTS_CHANNEL}_${schema.toLowerCase()}`;
  if (name.length <= 63 && /^[a-z_][a-z0-9_]*$/.test(name)) return name;
  return `${EVENTS_CHANNEL}_${createHash('sha256').update(schema).digest('hex').slice(0, 40)}`;
}
/** Appends within this window of the last NOTIFY share one more NOTIFY at its end. */
export const WAKE_WINDOW_MS = 50;

/**
 * The read horizon of catch-up readers, one SQL expression (an uncorrelated subquery: computed once
 * a statement): events with `tx_id` below it are final, none can still appear there. It is the
 * oldest transaction still open that could write events, else the snapshot's xmax. Open
 * transactions that cannot write events are left out: those of a login without INSERT on events
 * (the read-only gpu_scaler_reader: `begin; select pg_current_xact_id(); select pg_sleep(30)` held
 * every reader, and so every spawn, for as long as it stayed open) and those of other databases of
 * the cluster. A transaction is left out only when its session is found and named so; anything
 * unknown (a prepared transaction, a session gone meanwhile) still counts. pg_snapshot_xmin, the
 * rule before, counted every open transaction of the cluster. With no transaction open it is the
 * snapshot's xmax at once (asking pg_stat_activity costs about 1.5 ms on a server).
 */
export const READ_HORIZON_SQL = `(select case when pg_snapshot_xmin(s) = pg_snapshot_xmax(s) then pg_snapshot_xmax(s)
    else coalesce(
    (select min((x::text)::bigint) from pg_snapshot_xip(s) as x
      where not exists (
        select 1 from pg_stat_activity a
         where a.backend_xid is not null
           and (a.backend_xid::text)::bigint = (x::text)::bigint % 4294967296
           and (a.datid is distinct from (select d.oid from pg_database d where d.datname = current_database())
                or not has_any_column_privilege(a.usesysid, 'events'::regclass, 'INSERT')))),
    (pg_snapshot_xmax(s)::text)::bigint)::text::xid8 end
  from pg_current_snapshot() as s)`;

/** A stored event no schema of this build reads: what a reader skipped, and why. */
export interface UnreadableEvent {
  globalPosition: number;
  streamId: string;
  streamVersion: number;
  eventId: string;
  eventType: string;
  schemaVersion: number;
  recordedAt: Date;
  /** The validation error. */
  error: string;
}

/**
 * The quarantine shared by a store and its transaction-bound views: the positions skipped so far
 * in this process, and the records of them being written (one at a time, after the reads).
 */
class Quarantine {
  readonly seen = new Set<number>();
  pending: Promise<void> = Promise.resolve();
}

/** The event id of the quarantine record of one stored event: the same in every process. */
function quarantineEventId(eventId: string, position: number): string {
  const h = createHash('sha256').update(`gpu-scaler quarantine ${eventId} ${position}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The columns of `events` that make an EventRow (what `decode` takes): the one list every reader selects. */
export const EVENT_COLUMNS = `global_position, stream_id, stream_version, event_id::text as event_id, event_type, schema_version,
  data, metadata, tx_id::text as tx_id, recorded_at`;

export interface EventRow {
  global_position: number;
  stream_id: string;
  stream_version: number;
  event_id: string;
  event_type: string;
  schema_version: number;
  data: unknown;
  metadata: EventMetadata;
  tx_id: string;
  recorded_at: Date;
}

/**
 * What every store refuses before anything is written (the SQL store and the in-memory one): a
 * stream id that is empty or longer than 200 characters, an empty batch, a bad expected version.
 */
export function checkAppendArgs(streamId: string, count: number, expected: ExpectedVersion): void {
  if (typeof streamId !== 'string' || streamId.length === 0 || streamId.length > 200) {
    throw new Error(`stream id must be a non-empty string of at most 200 characters, got ${JSON.stringify(streamId)}`);
  }
  if (count === 0) throw new Error(`append to "${streamId}" needs at least one event`);
  if (typeof expected === 'number' && (!Number.isSafeInteger(expected) || expected < 0)) {
    throw new Error(`expectedVersion must be 'any', 'no_stream', 'stream_exists' or an integer >= 0, got ${expected}`);
  }
}

/** The first event id a batch names twice (compared as uuids: case and hyphens aside), or null. */
export function repeatedEventId(ids: readonly string[]): string | null {
  if (ids.length < 2) return null;
  const seen = new Set<string>();
  for (const id of ids) {
    const key = id.toLowerCase().replace(/[^0-9a-f]/g, '');
    if (seen.has(key)) return id;
    seen.add(key);
  }
  return null;
}

/**
 * The event store API. The same SQL runs on a PostgreSQL server and on PGlite; the backend only
 * changes the `Db` underneath.
 */
export class EventStore<D extends EventDefinition = AppEventDefinition> {
  /** 'appended' fires after a local append commits; 'wake' also for notifications from other processes. */
  readonly signals = new EventEmitter<{
    appended: [streamId: string];
    wake: [];
    /** Every append's duration in seconds (the metrics), committed or not, inside a transaction too. */
    appendTimed: [seconds: number];
    /**
     * A stored event no schema reads was skipped and recorded as EventQuarantined (`recorded` false:
     * it could not be recorded, by this login or this registry). Once per event: not when another
     * reader or process had recorded it already.
     */
    quarantined: [event: UnreadableEvent, recorded: boolean];
  }>();
  /** Shared with the transaction-bound views of this store (see quarantineRow). */
  protected quarantine = new Quarantine();
  /** The store appends go to outside any transaction (this one, or the one a transaction view came from). */
  protected root: EventStore<D> = this;
  private unlisten?: () => Promise<void>;
  private wakeInFlight = false;
  private wakeAgain = false;
  private wakeTimer?: NodeJS.Timeout;
  private lastWakeAt = 0;
  private closed = false;

  constructor(
    readonly db: Db,
    readonly registry: EventRegistry<D>,
    /** The executor this store runs on: the pool, or one transaction. */
    readonly sql: Sql = db,
    private readonly inTransaction = false,
    /** Applied to every string of every appended event's data and metadata (see setSecrets). */
    protected redact: Redactor = makeRedactor([]),
  ) {}

  /**
   * What the control loop and the reactor read of the record, typed (reads.ts): SQL here, in
   * memory on the store `simulate` runs on; on a transaction's store, inside the transaction.
   */
  get reads(): ControlReads<EventOf<D>> {
    return new SqlReads(this);
  }

  /** The id of an event appended without one (a simulation's store gives seeded ids instead). */
  protected newEventId: () => string = randomUUID;

  /**
   * The secrets no event may hold: from now on every free-text string of an appended event's data
   * and every string value of its metadata has them (and any `Bearer` token or URL password)
   * replaced by `***` before it is validated and written. Events are never deleted, so this is the last gate, for every producer.
   */
  setSecrets(secrets: readonly string[]): void {
    this.redact = makeRedactor(secrets);
  }

  /**
   * An event's data with the secrets redacted where its schema has free text (redactBySchema): keys,
   * timestamps, ids and enums are never touched, so a redacted event still validates.
   */
  protected redactData(type: string, data: unknown): unknown {
    const def = this.registry.get(type);
    return def ? redactBySchema(def.schema, data, this.redact) : data;
  }

  /** An event's metadata with the secrets redacted in its values, never in its keys or the store's ids. */
  protected redactMetadata(metadata: EventMetadata): EventMetadata {
    return redactBySchema(METADATA_TEXT, metadata, this.redact);
  }

  /** Starts bridging NOTIFY from other processes into `signals` ('wake'). */
  async listen(): Promise<void> {
    if (this.unlisten) return;
    this.unlisten = await this.db.listen(eventsChannel(this.db.schema), () => this.signals.emit('wake'));
  }

  /**
   * Stops listening and closes the database (`graceSec`: see Db.close). A quarantine record still
   * being written is waited for, except on a stop with no grace (a database that is down): its id is
   * derived from the bad event's, so the next reader records it then, once.
   */
  async close(opts: { graceSec?: number } = {}): Promise<void> {
    if (opts.graceSec !== 0) await this.settled();
    this.closed = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (this.unlisten) await this.unlisten().catch(() => {});
    this.unlisten = undefined;
    this.signals.removeAllListeners();
    if (!this.inTransaction) await this.db.close(opts);
  }

  /**
   * Runs fn with a store bound to one transaction: appends and reads in it commit together.
   * Local 'appended' signals fire after the commit.
   */
  async transaction<T>(fn: (store: EventStore<D>) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this);
    const streams = new Set<string>();
    const result = await this.db.transaction(async (tx) => {
      const bound = new EventStore(this.db, this.registry, tx, true, this.redact);
      bound.newEventId = this.newEventId;
      bound.quarantine = this.quarantine;
      bound.root = this.root;
      bound.signals.on('quarantined', (e, recorded) => this.signals.emit('quarantined', e, recorded));
      bound.signals.on('appended', (s) => streams.add(s));
      bound.signals.on('appendTimed', (sec) => this.signals.emit('appendTimed', sec));
      return fn(bound);
    });
    for (const s of streams) this.signals.emit('appended', s);
    if (streams.size) {
      this.signals.emit('wake');
      this.wakeOtherProcesses();
    }
    return result;
  }

  /**
   * Appends events to one stream atomically. Every free-text string of every event is redacted (setSecrets),
   * then every event is validated against its schema: one bad event and nothing is written.
   */
  async append(
    streamId: string,
    events: readonly NewEvent<NewEventOf<D>>[],
    opts: { expectedVersion?: ExpectedVersion } = {},
  ): Promise<AppendResult> {
    const expected = opts.expectedVersion ?? 'any';
    checkAppendArgs(streamId, events.length, expected);
    const payload = events.map((e) => {
      const { schemaVersion, data } = this.registry.encode(e.type, this.redactData(e.type, e.data));
      const eventId = e.eventId ?? this.newEventId();
      const metadata = this.redactMetadata(e.metadata ?? {});
      return { event_id: eventId, event_type: e.type, schema_version: schemaVersion, data, metadata };
    });
    // refused here, naming it: the unique index would refuse it without a name
    const twice = repeatedEventId(payload.map((p) => p.event_id));
    if (twice !== null) throw new EventIdConflictError(streamId, [twice]);
    let rows: AppendRow[];
    const started = performance.now();
    try {
      rows = await appendRows(this.sql, this.inTransaction, streamId, expected, payload);
    } catch (err) {
      throw mapAppendError(err, streamId, expected);
    } finally {
      this.signals.emit('appendTimed', (performance.now() - started) / 1000);
    }
    const duplicate = rows.every((r) => r.duplicate);
    if (!duplicate) {
      // Inside a transaction the outer store re-emits these after the commit.
      this.signals.emit('appended', streamId);
      if (!this.inTransaction) {
        this.signals.emit('wake');
        this.wakeOtherProcesses();
      }
    }
    return {
      nextExpectedVersion: rows[rows.length - 1].stream_version,
      globalPositions: rows.map((r) => r.global_position),
      txId: rows[rows.length - 1].tx_id,
      duplicate,
    };
  }

  /**
   * Wakes subscribers in other processes with a NOTIFY sent after the commit. A NOTIFY inside
   * append_events would hold a database-wide lock through every commit and serialise concurrent
   * appenders, so the client sends it instead, throttled: the first append after a quiet spell is
   * announced at once, and a burst costs one NOTIFY per WAKE_WINDOW_MS (the last one is always
   * sent after the last commit). One NOTIFY per append cost a statement and a transaction on the
   * server for every event. It is only a hint: subscribers also poll. PGlite is one process, where
   * the local signal is enough.
   */
  private wakeOtherProcesses(): void {
    if (this.db.kind !== 'postgres' || this.closed) return;
    if (this.wakeInFlight) {
      this.wakeAgain = true;
      return;
    }
    if (this.wakeTimer) return; // a NOTIFY is due after this commit already
    const wait = this.lastWakeAt + WAKE_WINDOW_MS - Date.now();
    if (wait > 0) {
      this.wakeTimer = setTimeout(() => {
        this.wakeTimer = undefined;
        this.sendWake();
      }, wait);
      this.wakeTimer.unref();
      return;
    }
    this.sendWake();
  }

  private sendWake(): void {
    if (this.closed) return;
    this.wakeInFlight = true;
    this.lastWakeAt = Date.now();
    this.db
      .query('select pg_notify($1, $2)', [eventsChannel(this.db.schema), ''])
      .catch(() => {})
      .finally(() => {
        this.wakeInFlight = false;
        if (this.wakeAgain) {
          this.wakeAgain = false;
          this.wakeOtherProcesses();
        }
      });
  }

  /** The current version of a stream (0 when it has no events). */
  async streamVersion(streamId: string): Promise<number> {
    const rows = await this.sql.query<{ v: number }>(
      'select coalesce(max(stream_version), 0)::bigint as v from events where stream_id = $1',
      [streamId],
    );
    return rows[0].v;
  }

  /** Events of one stream in order, from `fromVersion` (inclusive, default 1). */
  async readStream(
    streamId: string,
    opts: { fromVersion?: number; limit?: number } = {},
  ): Promise<StoredEvent<EventOf<D>>[]> {
    const rows = await this.sql.query<EventRow>(
      `select ${EVENT_COLUMNS} from events where stream_id = $1 and stream_version >= $2 order by stream_version limit $3`,
      [streamId, opts.fromVersion ?? 1, opts.limit ?? 1_000_000_000],
    );
    return this.decodeRows(rows);
  }

  /** The last `count` events of a stream, oldest first. */
  async readStreamTail(streamId: string, count: number): Promise<StoredEvent<EventOf<D>>[]> {
    const rows = await this.sql.query<EventRow>(
      `select * from (select ${EVENT_COLUMNS} from events where stream_id = $1 order by stream_version desc limit $2) t
        order by stream_version`,
      [streamId, count],
    );
    return this.decodeRows(rows);
  }

  /**
   * The next batch after a checkpoint, in (tx_id, global_position) order. Only rows written by
   * transactions older than every transaction still open are returned, so an event whose position
   * was taken early but committed late is never skipped: the reader waits for it instead.
   *
   * With `types`, only events of those types come back, and the server skips the rest. So that the
   * checkpoint still passes the skipped events, the same statement (one snapshot) also returns the
   * last visible event of any type: when the page comes back short, everything up to it was seen,
   * and the checkpoint moves there even if the page is empty. `streams` narrows the page the same
   * way (a pool's reactor reads its own controller stream's decisions, not every pool's).
   */
  async readBatch(
    after: Checkpoint,
    limit = 1000,
    types?: readonly string[],
    streams?: readonly string[],
  ): Promise<ReadBatch<EventOf<D>>> {
    const visible = `((tx_id::text)::bigint, global_position) > ($1::bigint, $2::bigint)
          and tx_id < ${READ_HORIZON_SQL}`;
    if (!types && !streams) {
      const rows = await this.sql.query<EventRow>(
        `select ${EVENT_COLUMNS} from events where ${visible}
          order by (tx_id::text)::bigint, global_position
          limit $3`,
        [after.txId, after.position, limit],
      );
      // the checkpoint passes a quarantined event too (the last row read, not the last event kept)
      const events = this.decodeRows(rows);
      const last = rows[rows.length - 1];
      return { events, checkpoint: last ? { txId: last.tx_id, position: last.global_position } : after };
    }
    const rows = await this.sql.query<EventRow & { tail: boolean }>(
      `select * from (
         (select ${EVENT_COLUMNS}, false as tail from events where ${visible}
             and ($4::text[] is null or event_type = any($4::text[]))
             and ($5::text[] is null or stream_id = any($5::text[]))
           order by (tx_id::text)::bigint, global_position limit $3)
         union all
         (select global_position, stream_id, stream_version, event_id::text, event_type, schema_version,
                 null::jsonb, null::jsonb, tx_id::text, recorded_at, true as tail
            from events where ${visible}
           order by (tx_id::text)::bigint desc, global_position desc limit 1)
       ) t order by tail, (tx_id::bigint), global_position`,
      [after.txId, after.position, limit, types ? [...types] : null, streams ? [...streams] : null],
    );
    const page = rows.filter((r) => !r.tail);
    const tail = rows.find((r) => r.tail);
    const events = this.decodeRows(page);
    const last = page[page.length - 1];
    let checkpoint = last ? { txId: last.tx_id, position: last.global_position } : after;
    if (page.length < limit && tail) checkpoint = { txId: tail.tx_id, position: tail.global_position };
    return { events, checkpoint };
  }

  /** Every committed event after a checkpoint, batch by batch, until caught up. */
  async *readAll(opts: { after?: Checkpoint; batchSize?: number } = {}): AsyncGenerator<StoredEvent<EventOf<D>>[]> {
    let cp = opts.after ?? START;
    for (;;) {
      const batch = await this.readBatch(cp, opts.batchSize ?? 2000);
      if (batch.events.length === 0) return;
      yield batch.events;
      cp = batch.checkpoint;
    }
  }

  /** The highest committed position (0 for an empty store). */
  async headPosition(): Promise<number> {
    const rows = await this.sql.query<{ p: number }>(
      'select coalesce(max(global_position), 0)::bigint as p from events',
    );
    return rows[0].p;
  }

  /** A row's type and data as one member of the registry's union: upcast and validated, or an error naming its position. */
  read(r: Pick<EventRow, 'global_position' | 'event_type' | 'schema_version' | 'data'>): EventOf<D> {
    try {
      return this.registry.read(r.global_position, r.event_type, r.schema_version, r.data);
    } catch (err) {
      if (hasCode(err, 'EVENT_UNDECODABLE')) throw err;
      throw new EventDecodeError(r.global_position, r.event_type, (err as Error).message);
    }
  }

  /** Turns a row into a typed event: upcast and validated, or an error naming its position. */
  decode(r: EventRow): StoredEvent<EventOf<D>> {
    return {
      globalPosition: r.global_position,
      streamId: r.stream_id,
      streamVersion: r.stream_version,
      eventId: r.event_id,
      ...this.read(r), // type, then data
      schemaVersion: r.schema_version,
      metadata: r.metadata ?? {},
      txId: r.tx_id,
      recordedAt: r.recorded_at instanceof Date ? r.recorded_at : new Date(r.recorded_at as unknown as string),
    };
  }

  /**
   * A row as a typed event, or null when no schema of this build reads it: then it is quarantined
   * (quarantineRow) and every reader goes on without it. One unreadable row used to stop every
   * reader that met it for good: the controller's cycles, the reactor, the projections, status and
   * replay. A quarantine record this registry does not know is skipped without a word (a store of
   * other event types, in tests).
   */
  tryDecode(r: EventRow): StoredEvent<EventOf<D>> | null {
    if (r.event_type === EventQuarantined.type && !this.registry.has(EventQuarantined.type)) return null;
    try {
      return this.decode(r);
    } catch (err) {
      if (!(err instanceof EventDecodeError)) throw err;
      this.quarantineRow(r, err.reason);
      return null;
    }
  }

  /*
   * Why the writer keeps its direct INSERT on events (columns of an append only), rather than an
   * append function that validates: what makes a row unreadable is its data against the zod schema
   * of its type and version, and only this build knows those schemas; a SQL function could check
   * the envelope (a known type name, data an object), which the repro's row ('ScalingDecided',
   * {"cycle":"oops"}) passes anyway. Validation stays at the one gate every producer goes through
   * (append: registry.encode), and the plain INSERT keeps the fast path (src/store/append.ts: about
   * 105 us of server time a call against append_events' 135 us). A row that still gets in (by hand, an older or newer
   * build, a registry change) is quarantined by the readers instead of stopping them: recorded, said
   * as an anomaly and kept, as an append-only log must.
   */

  /** Rows as typed events, without those no schema reads (quarantined: see tryDecode). */
  decodeRows(rows: readonly EventRow[]): StoredEvent<EventOf<D>>[] {
    const out: StoredEvent<EventOf<D>>[] = [];
    for (const r of rows) {
      const e = this.tryDecode(r);
      if (e) out.push(e);
    }
    return out;
  }

  /**
   * Puts an unreadable stored event aside: the first time this process meets it, an EventQuarantined
   * naming its position and the validation error is appended to the `quarantine` stream, after the
   * read (never inside the reader's transaction: a failed record must not fail the read), under an
   * event id derived from the event's own, so it is recorded once whoever meets it first. Then
   * `quarantined` is signalled (the controller turns it into an anomaly, and so an alert), unless
   * the record was there already. A login that may not append (a reader) or a registry without
   * EventQuarantined still skips the event, and signals it unrecorded.
   */
  quarantineRow(
    r: Pick<EventRow, 'global_position' | 'event_id' | 'event_type' | 'schema_version'> &
      Partial<Pick<EventRow, 'stream_id' | 'stream_version' | 'recorded_at'>>,
    error: string,
  ): void {
    const q = this.quarantine;
    if (q.seen.has(r.global_position)) return;
    q.seen.add(r.global_position);
    const root = this.root;
    q.pending = q.pending.then(async () => {
      const event = await root.unreadable(r, error);
      let recorded = false;
      let known = false;
      if (root.registry.has(EventQuarantined.type) && !root.closed) {
        try {
          const data = {
            at: event.recordedAt.toISOString(),
            position: event.globalPosition,
            streamId: event.streamId,
            streamVersion: event.streamVersion,
            eventId: event.eventId,
            eventType: event.eventType,
            schemaVersion: event.schemaVersion,
            error: event.error,
          };
          const id = quarantineEventId(event.eventId, event.globalPosition);
          const res = await root.appendUnchecked(QUARANTINE_STREAM, EventQuarantined.type, data, id);
          recorded = true;
          known = res.duplicate;
        } catch (err) {
          // recorded already by a build whose error text differs: the same id, other data
          if (err instanceof EventIdConflictError) known = true;
        }
      }
      if (!known) root.signals.emit('quarantined', event, recorded);
    });
  }

  /** What names an unreadable event; a reader that did not select its stream or time (replay) has them read here. */
  private async unreadable(
    r: Pick<EventRow, 'global_position' | 'event_id' | 'event_type' | 'schema_version'> &
      Partial<Pick<EventRow, 'stream_id' | 'stream_version' | 'recorded_at'>>,
    error: string,
  ): Promise<UnreadableEvent> {
    let { stream_id, stream_version, recorded_at } = r;
    if (stream_id === undefined || stream_version === undefined || recorded_at === undefined) {
      const [row] = await this.sql
        .query<Pick<EventRow, 'stream_id' | 'stream_version' | 'recorded_at'>>(
          'select stream_id, stream_version, recorded_at from events where global_position = $1',
          [r.global_position],
        )
        .catch(() => []);
      ({ stream_id = '', stream_version = 0, recorded_at = new Date(0) } = row ?? {});
    }
    const at = recorded_at instanceof Date ? recorded_at : new Date(recorded_at as unknown as string);
    return {
      globalPosition: r.global_position,
      streamId: stream_id,
      streamVersion: Number(stream_version),
      eventId: r.event_id,
      eventType: r.event_type,
      schemaVersion: r.schema_version,
      recordedAt: Number.isNaN(at.getTime()) ? new Date(0) : at,
      error,
    };
  }

  /** Appends one event of a type this store's registry may not name in its type (the quarantine record). */
  protected appendUnchecked(streamId: string, type: string, data: unknown, eventId: string): Promise<AppendResult> {
    // The registry has the type (checked by the caller) and validates the data at run time; the
    // registry's type parameter cannot say so, hence the one assertion.
    return this.append(streamId, [{ type, data, eventId } as unknown as NewEvent<NewEventOf<D>>]);
  }

  /** Resolves when every quarantine record started so far was written (or failed). */
  async settled(): Promise<void> {
    for (;;) {
      const p = this.quarantine.pending;
      await p;
      if (p === this.quarantine.pending) return;
    }
  }
}
