import { randomUUID } from 'node:crypto';
import { START } from '../src/store/event-store';
import type { NewEvent } from '../src/store/index';
import { type BenchStore, type QueueSample, QueueSampled, sample } from './bench-events';
import type { RawSql } from './raw-client';

/** One side (ours or raw) of a workload. */
export interface Side {
  /** A short unmeasured run: prepares statements, opens connections, warms the JIT. */
  warm(): Promise<void>;
  /** The measured run; returns the number of events written or read. */
  run(round: number, probe?: () => void): Promise<number>;
}

export interface Workload {
  /** What BENCH_ONLY calls it. */
  key: string;
  name: string;
  /** ours/raw throughput the store should reach. */
  target: number;
  /** Unmeasured setup before the first round (the full read fills the table). */
  prepare?(): Promise<void>;
  /** Sample RSS while it runs (the full read). */
  trackRss?: boolean;
  /** Wrong results seen while running (e.g. events a read did not deliver); filled by the sides. */
  problems?: string[];

  raw: Side;
  ours: Side;
}

export const SINGLE_APPENDS = 2_000;
export const BATCHES = 200;
export const BATCH_SIZE = 100;
export const WRITERS = 8;
export const APPENDS_PER_WRITER = 1_000;
export const READ_EVENTS = 200_000;
export const READ_BATCH = 2_000;
const WARM_OPS = 100;

const TYPE = QueueSampled.type;
const newEvent = (n: number): NewEvent<{ type: typeof TYPE; data: QueueSample }> => ({ type: TYPE, data: sample(n) });

/**
 * The raw side writes rows with the same columns and values as append_events (stream_version
 * counted by the client, a fresh uuid per event, metadata '{}') into raw_events, a copy of the
 * events table (`like events including all`: same defaults, identity and indexes, no triggers).
 */
class RawWriter {
  private readonly versions = new Map<string, number>();

  constructor(private readonly sql: RawSql) {}

  private next(stream: string): number {
    const v = (this.versions.get(stream) ?? 0) + 1;
    this.versions.set(stream, v);
    return v;
  }

  async insertOne(stream: string, n: number): Promise<void> {
    const sql = this.sql;
    const v = this.next(stream);
    await sql`insert into raw_events (stream_id, stream_version, event_id, event_type, schema_version, data, metadata)
      values (${stream}, ${v}, ${randomUUID()}, ${TYPE}, 1, ${sql.json(sample(n))}, '{}')`;
  }

  async insertMany(stream: string, first: number, count: number): Promise<void> {
    const rows = [];
    for (let i = 0; i < count; i++) {
      rows.push({
        stream_id: stream,
        stream_version: this.next(stream),
        event_id: randomUUID(),
        event_type: TYPE,
        schema_version: 1,
        data: this.sql.json(sample(first + i)),
        metadata: this.sql.json({}),
      });
    }
    await this.sql`insert into raw_events ${this.sql(rows)}`;
  }
}

async function times(count: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < count; i++) await fn(i);
}

async function concurrently(writers: number, fn: (w: number) => Promise<unknown>): Promise<void> {
  await Promise.all(Array.from({ length: writers }, (_, w) => fn(w)));
}

export function singleAppends(store: BenchStore, sql: RawSql): Workload {
  const raw = new RawWriter(sql);
  return {
    key: 'single',
    name: `single appends (${SINGLE_APPENDS.toLocaleString('en')} x 1)`,
    target: 0.8,
    raw: {
      warm: () => times(WARM_OPS, (i) => raw.insertOne('warm-single', i)),
      async run(round) {
        await times(SINGLE_APPENDS, (i) => raw.insertOne(`single-${round}`, i));
        return SINGLE_APPENDS;
      },
    },
    ours: {
      warm: () => times(WARM_OPS, (i) => store.append('warm-single', [newEvent(i)])),
      async run(round) {
        await times(SINGLE_APPENDS, (i) => store.append(`single-${round}`, [newEvent(i)]));
        return SINGLE_APPENDS;
      },
    },
  };
}

export function batchAppends(store: BenchStore, sql: RawSql): Workload {
  const raw = new RawWriter(sql);
  const batch = (b: number) => Array.from({ length: BATCH_SIZE }, (_, i) => newEvent(b * BATCH_SIZE + i));
  const warmBatches = WARM_OPS / 5;
  return {
    key: 'batch',
    name: `batch appends (${BATCHES} x ${BATCH_SIZE})`,
    target: 0.9,
    raw: {
      warm: () => times(warmBatches, (b) => raw.insertMany('warm-batch', b * BATCH_SIZE, BATCH_SIZE)),
      async run(round) {
        await times(BATCHES, (b) => raw.insertMany(`batch-${round}`, b * BATCH_SIZE, BATCH_SIZE));
        return BATCHES * BATCH_SIZE;
      },
    },
    ours: {
      warm: () => times(warmBatches, (b) => store.append('warm-batch', batch(b))),
      async run(round) {
        await times(BATCHES, (b) => store.append(`batch-${round}`, batch(b)));
        return BATCHES * BATCH_SIZE;
      },
    },
  };
}

export function concurrentAppends(store: BenchStore, sql: RawSql): Workload {
  const raw = new RawWriter(sql);
  const warmEach = Math.ceil(WARM_OPS / WRITERS);
  return {
    key: 'concurrent',
    name: `concurrent appends (${WRITERS} x ${APPENDS_PER_WRITER.toLocaleString('en')} x 1)`,
    target: 0.8,
    raw: {
      warm: () => concurrently(WRITERS, (w) => times(warmEach, (i) => raw.insertOne(`warm-conc-${w}`, i))),
      async run(round) {
        await concurrently(WRITERS, (w) => times(APPENDS_PER_WRITER, (i) => raw.insertOne(`conc-${round}-${w}`, i)));
        return WRITERS * APPENDS_PER_WRITER;
      },
    },
    ours: {
      warm: () => concurrently(WRITERS, (w) => times(warmEach, (i) => store.append(`warm-conc-${w}`, [newEvent(i)]))),
      async run(round) {
        await concurrently(WRITERS, (w) =>
          times(APPENDS_PER_WRITER, (i) => store.append(`conc-${round}-${w}`, [newEvent(i)])),
        );
        return WRITERS * APPENDS_PER_WRITER;
      },
    },
  };
}

/** The same columns the store selects (event-store.ts COLUMNS), in plain global order. */
const rawRead = (sql: RawSql) =>
  sql`select global_position, stream_id, stream_version, event_id::text as event_id, event_type, schema_version,
        data, metadata, tx_id::text as tx_id, recorded_at
      from events order by global_position`;

/**
 * Tops the events table up to READ_EVENTS with batched appends (1,000 events, 4 writers), then
 * VACUUMs it so neither side pays for setting hint bits on freshly written rows. Returns the
 * number of events the table then holds.
 */
async function fillForRead(store: BenchStore, sql: RawSql): Promise<number> {
  const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from events`;
  let missing = READ_EVENTS - n;
  let next = 0;
  await concurrently(4, async (w) => {
    while (missing > 0) {
      const size = Math.min(1_000, missing);
      missing -= size;
      const first = next;
      next += size;
      await store.append(
        `fill-${w}`,
        Array.from({ length: size }, (_, i) => newEvent(first + i)),
      );
    }
  });
  await sql`vacuum (analyze) events`;
  return Math.max(n, READ_EVENTS);
}

export function fullRead(store: BenchStore, sql: RawSql): Workload {
  const problems: string[] = [];
  let expected = READ_EVENTS;
  let rawSum = -1;
  // Both sides must deliver the same rows: compare the count and the sum of positions with raw's.
  const check = (side: string, count: number, sum: number) => {
    if (side === 'raw' && rawSum < 0) rawSum = sum;
    if (count !== expected || sum !== rawSum) {
      const problem =
        `${side} read ${count.toLocaleString('en')} of ${expected.toLocaleString('en')} events ` +
        `(sum of positions ${sum}, raw ${rawSum})`;
      if (!problems.includes(problem)) problems.push(problem);
    }
    return count;
  };
  return {
    key: 'read',
    name: `full read (${READ_EVENTS.toLocaleString('en')} events)`,
    target: 0.7,
    trackRss: true,
    problems,
    async prepare() {
      expected = await fillForRead(store, sql);
    },
    raw: {
      async warm() {
        let seen = 0;
        for await (const rows of rawRead(sql).cursor(READ_BATCH)) {
          seen += rows.length;
          if (seen >= 5 * READ_BATCH) break;
        }
      },
      async run(_round, probe) {
        let count = 0;
        let sum = 0;
        for await (const rows of rawRead(sql).cursor(READ_BATCH)) {
          for (const r of rows) sum += r.global_position as number;
          count += rows.length;
          probe?.();
        }
        return check('raw', count, sum);
      },
    },
    ours: {
      async warm() {
        let cp = START;
        for (let i = 0; i < 5; i++) cp = (await store.readBatch(cp, READ_BATCH)).checkpoint;
      },
      async run(_round, probe) {
        let count = 0;
        let sum = 0;
        for await (const events of store.readAll({ batchSize: READ_BATCH })) {
          for (const e of events) sum += e.globalPosition;
          count += events.length;
          probe?.();
        }
        return check('ours', count, sum);
      },
    },
  };
}

export function storeWorkloads(store: BenchStore, sql: RawSql): Workload[] {
  return [singleAppends(store, sql), batchAppends(store, sql), concurrentAppends(store, sql), fullRead(store, sql)];
}
