import { type AppEvent, DEFAULT_POOL } from '../../events/index';
import type { WorkerRow, WorkerStatus } from '../../projections/workers';
import { type Checkpoint, type EventRow, START, type StoredEvent } from './event-store';
import { eventTime } from './event-time';
import type { MemEvent, MemoryDb } from './memory';
import {
  acceptedObservations,
  acceptedWants,
  type ObservationRow,
  type SpawnOutcomeRow,
  type WantRow,
} from './queries';
import type { ControlReads } from './reads';

/** What the in-memory reads need of their store: its database, and how it hands out stored rows. */
export interface MemoryReadsStore {
  readonly mem: MemoryDb;
  /** The events of these rows, quarantining (and leaving out) those no schema reads. */
  readable(ms: readonly MemEvent[]): StoredEvent[];
  /** One row's event, or the error no schema reads it with. */
  decode(row: EventRow): StoredEvent;
}

/**
 * The control loop's reads (ControlReads) on the in-memory store `simulate` runs on: typed reads of
 * its arrays and maps, held to the same contract as the SQL ones (test/store/reads-contract.ts).
 * Each walks only what it answers: windows back from the newest event of their type (event times
 * grow with positions here, as on a simulated clock), the live workers by the status index.
 */
export class MemoryReads implements ControlReads<AppEvent> {
  constructor(private readonly store: MemoryReadsStore) {}

  private get db(): MemoryDb {
    return this.store.mem;
  }

  /** As every query of MemoryDb: waits while a transaction it is not in is open. */
  private async ready(): Promise<MemoryDb> {
    const db = this.db;
    if (db.mustWait()) await db.idle();
    return db;
  }

  async checkpoint(name: string): Promise<Checkpoint> {
    const db = await this.ready();
    const cp = db.checkpoints.get(name);
    return cp ? { ...cp } : START;
  }

  async committedAfter(after: Checkpoint, streamPrefix: string): Promise<StoredEvent[]> {
    const db = await this.ready();
    const out: MemEvent[] = [];
    for (let i = db.firstAfter(after.position); i < db.events.length; i++) {
      const e = db.events[i];
      if (e.row.stream_id.startsWith(streamPrefix)) out.push(e);
    }
    return this.store.readable(out);
  }

  async workersByStatusOrId(
    statuses: readonly WorkerStatus[],
    ids: readonly string[],
    pool?: string,
  ): Promise<WorkerRow[]> {
    const db = await this.ready();
    const keys = new Set<string>();
    for (const s of statuses) for (const k of db.keysWithStatus('workers', s)) keys.add(k);
    for (const id of ids) keys.add(id);
    const t = db.table('workers');
    const out: WorkerRow[] = [];
    for (const k of keys) {
      const r = t.get(k);
      if (r && inPool(r, pool)) out.push(r as WorkerRow);
    }
    return out;
  }

  async workerStatuses(ids: readonly string[], pool?: string): Promise<Map<string, WorkerStatus>> {
    const db = await this.ready();
    const t = db.table('workers');
    const out = new Map<string, WorkerStatus>();
    for (const id of ids) {
      const r = t.get(id);
      if (r && inPool(r, pool)) out.set(id, r.status as WorkerStatus);
    }
    return out;
  }

  async observationsBetween(since: string, until: string, pool = DEFAULT_POOL): Promise<ObservationRow[]> {
    const db = await this.ready();
    const rows = ofPool(window(db.ofType('TaskCountObserved'), since, until), pool).map((m) => {
      const d = m.row.data as { cycle?: unknown; at?: unknown; queued?: unknown; active?: unknown };
      return { cycle: d.cycle, at: d.at, queued: d.queued, active: d.active };
    });
    return acceptedObservations(rows);
  }

  async spawnOutcomesBetween(since: string, until: string, pool = DEFAULT_POOL): Promise<SpawnOutcomeRow[]> {
    const db = await this.ready();
    const spawned = window(db.ofType('WorkerSpawned'), since, until);
    const failed = window(db.ofType('WorkerSpawnFailed'), since, until);
    return ofPool([...spawned, ...failed], pool)
      .sort((a, b) => a.row.global_position - b.row.global_position)
      .map(({ row }) => {
        const d = row.data as { at?: unknown; kind?: unknown; error?: unknown };
        return {
          type: row.event_type as SpawnOutcomeRow['type'],
          at: text(d.at) as string,
          kind: text(d.kind),
          error: text(d.error),
        };
      });
  }

  async anomalyKindsSinceLastSummary(pool = DEFAULT_POOL): Promise<Record<string, number>> {
    const db = await this.ready();
    const summaries = ofPool(db.ofType('HealthSummaryRecorded'), pool);
    const since = summaries.length ? summaries[summaries.length - 1].row.global_position : 0;
    const anomalies = db.ofType('AnomalyDetected');
    const n: Record<string, number> = {};
    for (let i = anomalies.length - 1; i >= 0 && anomalies[i].row.global_position > since; i--) {
      if (!isOfPool(anomalies[i], pool)) continue;
      const kind = String(text((anomalies[i].row.data as { kind?: unknown }).kind));
      n[kind] = (n[kind] ?? 0) + 1;
    }
    return n;
  }

  async lastConditionChanges(types: readonly string[], pool = DEFAULT_POOL): Promise<StoredEvent[]> {
    const db = await this.ready();
    const changes = db.ofType('ConditionChanged');
    const wanted = new Set(types);
    const found: MemEvent[] = [];
    for (let i = changes.length - 1; i >= 0 && wanted.size > 0; i--) {
      if (!isOfPool(changes[i], pool)) continue;
      const type = (changes[i].row.data as { type?: unknown }).type;
      if (typeof type === 'string' && wanted.delete(type)) found.push(changes[i]);
    }
    return found.reverse().map((m) => this.store.decode(m.row));
  }

  async latestWants(pools: readonly string[]): Promise<WantRow[]> {
    const db = await this.ready();
    const decisions = db.ofType('ScalingDecided');
    const left = new Set(pools);
    const rows: { pool: unknown; at: unknown; want: unknown; desired: unknown; quote: unknown }[] = [];
    for (let i = decisions.length - 1; i >= 0 && left.size > 0; i--) {
      const d = decisions[i].row.data as WantData;
      const pool = d.pool ?? DEFAULT_POOL;
      if (typeof pool !== 'string' || !left.delete(pool)) continue;
      const share = d.allocation?.shares?.find((x) => x.pool === pool);
      rows.push({ pool, at: d.at, want: share?.wantWorkers ?? null, desired: d.desired, quote: d.quoteUsdPerHour });
    }
    return acceptedWants(rows);
  }

  async lockBudget(): Promise<void> {
    // one transaction at a time: the transaction this runs in is the lock
  }
}

/** The data fields a want is read from (as text or numbers; checked by acceptedWants). */
type WantData = {
  pool?: unknown;
  at?: unknown;
  desired?: unknown;
  quoteUsdPerHour?: unknown;
  allocation?: { shares?: { pool?: unknown; wantWorkers?: unknown }[] } | null;
};

/** A projection row is of `pool` (any row, without one); rows folded before the column are pool default, as in SQL. */
const inPool = (r: { pool?: unknown }, pool: string | undefined): boolean =>
  pool === undefined || (r.pool ?? DEFAULT_POOL) === pool;

/** An event is of `pool` (data.pool; one recorded before pools is pool default's), as ofPoolSql. */
const isOfPool = (m: MemEvent, pool: string): boolean =>
  ((m.row.data as { pool?: unknown }).pool ?? DEFAULT_POOL) === pool;
const ofPool = (ms: readonly MemEvent[], pool: string): MemEvent[] => ms.filter((m) => isOfPool(m, pool));

/** A JSON value as `data->>'field'` gives it: text, or null when absent. */
function text(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * The events of one type (in position order) whose event time is in [since, until): walked back
 * from the newest while in the window (event times grow with positions here), then in order.
 */
function window(list: readonly MemEvent[], since: string, until: string): MemEvent[] {
  const [from, to] = [Date.parse(since), Date.parse(until)];
  const out: MemEvent[] = [];
  for (let i = list.length - 1; i >= 0; i--) {
    const { row } = list[i];
    const t = eventTime(row.data, row.recorded_at).getTime();
    if (t < from) break;
    if (t < to) out.push(list[i]);
  }
  return out.reverse();
}
