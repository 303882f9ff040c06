import { randomUUID } from 'node:crypto';
import { EventQuarantined } from '../../events/quarantine';
import { EventValidationError } from '../../events/registry';
import { loadCheckpoint } from '../../src/store/checkpoints';
import { copyText } from '../../src/store/copy-text';
import { ConcurrencyError, EventIdConflictError } from '../../src/store/errors';
import { EventStore, START, type UnreadableEvent } from '../../src/store/event-store';
import { MemoryEventStore } from '../../src/store/memory';
import { loadMigrations, MigrationError, migrate } from '../../src/store/migrator';
import { Subscription } from '../../src/store/subscription';
import type { TestBackend } from '../helpers/backends';
import { counted, labelOf, nOf, Tagged, type TestEvent, type TestStore, testRegistry } from '../helpers/test-events';
import { waitFor } from '../helpers/wait';

const ns = (events: TestEvent[]) => events.map(nOf);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How many events a reader sees, counted through the API (readAll) so that every store can answer. */
async function countEvents(store: TestStore): Promise<number> {
  let n = 0;
  for await (const batch of store.readAll()) n += batch.length;
  return n;
}

/** The backend and the fresh store of the running test (set by the hooks of `storeUnderTest`). */
interface UnderTest {
  readonly backend: TestBackend;
  readonly store: TestStore;
}

function storeUnderTest(makeBackend: () => TestBackend): UnderTest {
  let backend: TestBackend;
  let store: TestStore;

  beforeAll(() => {
    backend = makeBackend();
  });
  afterAll(async () => {
    await backend.teardown();
  });
  beforeEach(async () => {
    store = await backend.open(testRegistry());
  });
  afterEach(async () => {
    await store.close();
  });
  return {
    get backend() {
      return backend;
    },
    get store() {
      return store;
    },
  };
}

/**
 * The SQL-level tests of a group of the API contract, run inside that group's describe block on
 * the SQL stores only: raw SQL, hand-made rows, transaction ids, tables of a handler's own.
 */
interface SqlLevel {
  appendAndRead(): void;
  validation(): void;
  concurrency(): void;
  subscriptions(): void;
}

/**
 * The event store contract of the API: every EventStore (PostgreSQL, PGlite, and the in-memory
 * store `gpu-scaler simulate` runs on) must pass it. It uses only the store's API (and the
 * checkpoints and subscriptions built on it), never SQL of its own.
 */
export function eventStoreApiContract(makeBackend: () => TestBackend): void {
  apiContract(storeUnderTest(makeBackend));
}

/** The whole event store contract of the SQL stores: the API contract, and the SQL-level part. */
export function eventStoreContract(makeBackend: () => TestBackend): void {
  const u = storeUnderTest(makeBackend);
  apiContract(u, sqlLevel(u));
  sqlOnlyGroups(u);
}

/** Appends events holding a configured secret and a bearer token, outside and inside a transaction. */
async function appendSecrets(store: TestStore): Promise<void> {
  store.setSecrets(['sk-live-42xyz']);
  await store.append('s-secret', [
    {
      type: 'Labelled',
      data: { label: 'key sk-live-42xyz, header Bearer tok.123' },
      metadata: { note: 'sk-live-42xyz' },
    },
  ]);
  const inTx = await store.transaction((tx) =>
    tx.append('s-secret', [{ type: 'Labelled', data: { label: 'again sk-live-42xyz' } }]),
  );
  expect(inTx.globalPositions).toHaveLength(1);
}

/**
 * Where two transactions can be open at once (the server): a reader holds back behind a
 * transaction that took an earlier position and has not committed yet.
 */
async function readerWaitsForOpenTransaction(store: TestStore): Promise<void> {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let taken!: () => void;
  const positionTaken = new Promise<void>((r) => {
    taken = r;
  });
  const slow = store.transaction(async (tx) => {
    const r = await tx.append('slow', [counted(1)]);
    taken();
    await gate;
    return r;
  });
  await positionTaken;
  let slowSettled = false;
  const settled = () => {
    slowSettled = true;
  };
  slow.then(settled, settled);
  const fast = await store.append('fast', [counted(2)]);
  expect(slowSettled).toBe(false); // still open: it waits for the gate
  // fast committed with a later position, but the reader must hold back
  const before = await store.readBatch(START);
  expect(before.events).toEqual([]);
  expect(before.checkpoint).toEqual(START);
  release();
  const slowRes = await slow;
  expect(slowRes.globalPositions[0]).toBeLessThan(fast.globalPositions[0]);
  const after = await store.readBatch(START);
  expect(ns(after.events)).toEqual([1, 2]);
}

/**
 * Where one transaction runs at a time (PGlite is one connection; the memory store's transaction
 * is its body), the case above cannot arise: appends made in a transaction are read in order.
 */
async function transactionAppendsReadInOrder(store: TestStore): Promise<void> {
  await store.transaction(async (tx) => tx.append('late', [counted(1)]));
  await store.append('early', [counted(2)]);
  const b = await store.readBatch(START);
  expect(ns(b.events)).toEqual([1, 2]);
}

/**
 * Puts in a Counted row whose data no schema reads: a raw INSERT on SQL (what a writer login can
 * do by hand), its twin on the in-memory store. Returns its global position.
 */
async function insertUnreadable(
  store: object & Pick<TestStore, 'db'>,
  streamId: string,
  data: unknown,
): Promise<number> {
  if (store instanceof MemoryEventStore) {
    return store.insertUnvalidated({ streamId, type: 'Counted', schemaVersion: 1, data });
  }
  const [row] = await store.db.query<{ p: number }>(
    `insert into events(stream_id, stream_version, event_id, event_type, schema_version, data)
     values ($1, (select coalesce(max(stream_version), 0) + 1 from events where stream_id = $1), $2, 'Counted', 1, $3::text::jsonb)
     returning global_position as p`,
    [streamId, randomUUID(), JSON.stringify(data)],
  );
  return Number(row.p);
}

function apiContract(u: UnderTest, sql?: SqlLevel): void {
  describe('append and read', () => {
    test('every string of data and metadata is redacted before it is written: configured secrets and bearer tokens', async () => {
      const { store } = u;
      await appendSecrets(store);
      const events = await store.readStream('s-secret');
      const all = JSON.stringify(events.map((e) => [e.data, e.metadata]));
      expect(all).not.toContain('sk-live-42xyz');
      expect(all).not.toContain('tok.123');
      expect(events.map(labelOf)).toEqual(['key ***, header Bearer ***', 'again ***']);
      expect(events[0].metadata).toEqual({ note: '***' });
    });

    test('a new stream starts at version 1 and reads back in order with data and metadata', async () => {
      const { store } = u;
      const res = await store.append('s-1', [counted(1), counted(2)], { expectedVersion: 'no_stream' });
      expect(res.nextExpectedVersion).toBe(2);
      expect(res.duplicate).toBe(false);
      expect(res.globalPositions).toHaveLength(2);
      expect(res.globalPositions[1]).toBe(res.globalPositions[0] + 1);
      await store.append('s-1', [{ type: 'Counted', data: { n: 3 }, metadata: { cycle: 7, correlationId: 'c-1' } }]);
      const events = await store.readStream('s-1');
      expect(ns(events)).toEqual([1, 2, 3]);
      expect(events.map((e) => e.streamVersion)).toEqual([1, 2, 3]);
      expect(events[2].metadata).toEqual({ cycle: 7, correlationId: 'c-1' });
      expect(events[0].type).toBe('Counted');
      expect(events[0].schemaVersion).toBe(1);
      expect(events[0].recordedAt).toBeInstanceOf(Date);
      expect(await store.streamVersion('s-1')).toBe(3);
      expect(await store.streamVersion('nothing-here')).toBe(0);
      expect(ns(await store.readStream('s-1', { fromVersion: 2 }))).toEqual([2, 3]);
    });

    test('readAll returns every event in commit order across batches', async () => {
      const { store } = u;
      for (let i = 0; i < 7; i++) await store.append(`s-${i % 3}`, [counted(i)]);
      const seen: number[] = [];
      for await (const batch of store.readAll({ batchSize: 3 })) {
        expect(batch.length).toBeLessThanOrEqual(3);
        seen.push(...ns(batch));
      }
      expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6]);
      expect(await store.headPosition()).toBeGreaterThanOrEqual(7);
    });

    test('a transaction that throws writes none of its appends: their versions and event ids are free again', async () => {
      const { store } = u;
      await store.append('kept', [counted(1)]);
      const id = randomUUID();
      const err = await store
        .transaction(async (tx) => {
          await tx.append('gone', [counted(2, id)]);
          await tx.append('kept', [counted(3)]);
          throw new Error('boom');
        })
        .catch((e) => e);
      expect(err.message).toBe('boom');
      expect(await store.streamVersion('gone')).toBe(0);
      expect(ns(await store.readStream('kept'))).toEqual([1]);
      expect(await countEvents(store)).toBe(1);
      const again = await store.append('gone', [counted(4, id)], { expectedVersion: 'no_stream' });
      expect(again.duplicate).toBe(false);
      expect(ns(await store.readStream('gone'))).toEqual([4]);
      expect((await store.append('kept', [counted(5)], { expectedVersion: 1 })).nextExpectedVersion).toBe(2);
    });

    sql?.appendAndRead();
  });

  describe('expected versions', () => {
    test('no_stream: succeeds on a new stream, fails on an existing one naming stream, expected and actual', async () => {
      const { store } = u;
      await store.append('a', [counted(1)], { expectedVersion: 'no_stream' });
      const err = await store.append('a', [counted(2)], { expectedVersion: 'no_stream' }).catch((e) => e);
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(err).toMatchObject({ streamId: 'a', expected: 'no_stream', actual: 1 });
      expect(err.message).toContain('"a"');
      expect(ns(await store.readStream('a'))).toEqual([1]);
    });

    test('stream_exists: fails on a new stream, succeeds on an existing one', async () => {
      const { store } = u;
      const err = await store.append('b', [counted(1)], { expectedVersion: 'stream_exists' }).catch((e) => e);
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(err).toMatchObject({ streamId: 'b', expected: 'stream_exists', actual: 0 });
      expect(await countEvents(store)).toBe(0);
      await store.append('b', [counted(1)]);
      const res = await store.append('b', [counted(2)], { expectedVersion: 'stream_exists' });
      expect(res.nextExpectedVersion).toBe(2);
    });

    test('an exact version: succeeds when it matches, fails with the actual version when not', async () => {
      const { store } = u;
      await store.append('c', [counted(1), counted(2)], { expectedVersion: 0 });
      const ok = await store.append('c', [counted(3)], { expectedVersion: 2 });
      expect(ok.nextExpectedVersion).toBe(3);
      const err = await store.append('c', [counted(4)], { expectedVersion: 2 }).catch((e) => e);
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(err).toMatchObject({ streamId: 'c', expected: 2, actual: 3 });
      expect(err.message).toMatch(/expected version 2, actual version 3/);
      const err0 = await store.append('c', [counted(4)], { expectedVersion: 0 }).catch((e) => e);
      expect(err0).toMatchObject({ expected: 0, actual: 3 });
      expect(ns(await store.readStream('c'))).toEqual([1, 2, 3]);
    });

    test('any: appends whatever the version', async () => {
      const { store } = u;
      await store.append('d', [counted(1)], { expectedVersion: 'any' });
      await store.append('d', [counted(2)]);
      expect(await store.streamVersion('d')).toBe(2);
    });

    test('a bad expected version is refused before anything is written', async () => {
      const { store } = u;
      await expect(store.append('e', [counted(1)], { expectedVersion: -1 })).rejects.toThrow(/expectedVersion/);
      await expect(store.append('', [counted(1)])).rejects.toThrow(/stream id/);
      await expect(store.append('e', [])).rejects.toThrow(/at least one event/);
      expect(await countEvents(store)).toBe(0);
    });
  });

  describe('idempotency', () => {
    test('retrying an append with the same event ids returns the original positions and writes nothing', async () => {
      const { store } = u;
      const ids = [randomUUID(), randomUUID()];
      const first = await store.append('r', [counted(1, ids[0]), counted(2, ids[1])], { expectedVersion: 'no_stream' });
      await store.append('r', [counted(3)]);
      // The retry still says no_stream: it is recognised as the same append, not checked again.
      const retry = await store.append('r', [counted(1, ids[0]), counted(2, ids[1])], { expectedVersion: 'no_stream' });
      expect(retry.duplicate).toBe(true);
      expect(retry.globalPositions).toEqual(first.globalPositions);
      expect(retry.nextExpectedVersion).toBe(2);
      expect(await countEvents(store)).toBe(3);
    });

    test('a different event under a used event id is an error and writes nothing', async () => {
      const { store } = u;
      const id = randomUUID();
      await store.append('r', [counted(1, id)]);
      const err = await store.append('r', [counted(99, id)]).catch((e) => e);
      expect(err).toBeInstanceOf(EventIdConflictError);
      expect(err.eventIds).toEqual([id]);
      const err2 = await store.append('other', [counted(1, id)]).catch((e) => e);
      expect(err2).toBeInstanceOf(EventIdConflictError);
      // a batch mixing a stored id with a new event is refused whole
      const err3 = await store.append('r', [counted(1, id), counted(5)]).catch((e) => e);
      expect(err3).toBeInstanceOf(EventIdConflictError);
      expect(await countEvents(store)).toBe(1);
    });

    test('a batch naming one event id twice is refused whole and writes nothing', async () => {
      const { store } = u;
      const id = randomUUID();
      const err = await store.append('twice', [counted(1, id), counted(2, id)]).catch((e) => e);
      expect(err).toBeInstanceOf(EventIdConflictError);
      expect(err.eventIds).toEqual([id]);
      expect(err.message).toContain(id);
      expect(await countEvents(store)).toBe(0);
    });

    test('event ids are uuids as the events table keeps them: upper case is the same id, a non-uuid is refused', async () => {
      const { store } = u;
      const id = randomUUID();
      const first = await store.append('u', [counted(1, id.toUpperCase())]);
      expect((await store.readStream('u')).map((e) => e.eventId)).toEqual([id]);
      const retry = await store.append('u', [counted(1, id)]);
      expect(retry.duplicate).toBe(true);
      expect(retry.globalPositions).toEqual(first.globalPositions);
      const err = await store.append('u', [counted(2, 'not-a-uuid')]).catch((e) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toContain('invalid input syntax for type uuid: "not-a-uuid"');
      expect(await countEvents(store)).toBe(1);
    });

    test("a retry is the same append whatever the order of its data's keys (they compare as jsonb)", async () => {
      const store = await u.backend.open(testRegistry().with(Tagged));
      try {
        const id = randomUUID();
        const first = await store.append('k', [{ type: 'Tagged', data: { tags: { a: 1, b: 2 } }, eventId: id }]);
        const retry = await store.append('k', [{ type: 'Tagged', data: { tags: { b: 2, a: 1 } }, eventId: id }]);
        expect(retry.duplicate).toBe(true);
        expect(retry.globalPositions).toEqual(first.globalPositions);
        const err = await store
          .append('k', [{ type: 'Tagged', data: { tags: { a: 1, b: 3 } }, eventId: id }])
          .catch((e) => e);
        expect(err).toBeInstanceOf(EventIdConflictError);
      } finally {
        await store.close();
      }
    });
  });

  describe('validation', () => {
    test('a stored row no schema reads is skipped by every reader, passed by checkpoints, and quarantined once', async () => {
      const store = await u.backend.open(testRegistry().with(EventQuarantined));
      try {
        const quarantined: [UnreadableEvent, boolean][] = [];
        store.signals.on('quarantined', (e, recorded) => quarantined.push([e, recorded]));
        await store.append('ok', [counted(1)]);
        const bad = await insertUnreadable(store, 'bad', { n: 'oops' });
        await store.append('ok', [counted(2)]);
        await store.append('bad', [counted(3)]);

        // every reader goes on without it
        const counts = (events: { type: string; data: unknown }[]) =>
          events.flatMap((e) => (e.type === 'Counted' ? [(e.data as { n: number }).n] : []));
        expect(counts(await store.readStream('bad'))).toEqual([3]);
        expect(counts(await store.readStreamTail('bad', 5))).toEqual([3]);
        const batch = await store.readBatch(START, 1000, ['Counted']);
        expect(counts(batch.events)).toEqual([1, 2, 3]);
        expect(batch.checkpoint.position).toBeGreaterThan(bad);
        const seen: number[] = [];
        const sub = new Subscription(store, {
          name: 'quarantine-contract',
          eventTypes: ['Counted'],
          handle: async (events) => {
            seen.push(...counts(events));
          },
        });
        await sub.catchUp();
        expect(seen).toEqual([1, 2, 3]);

        // recorded once, naming its position and the validation error, whoever reads it again
        await store.settled();
        for await (const _ of store.readAll()) {
          /* reads it again */
        }
        await store.settled();
        if (!(store instanceof MemoryEventStore)) {
          // a second process: its own quarantine, the same record
          const other = new EventStore(store.db, testRegistry().with(EventQuarantined));
          expect(await other.readStream('bad')).toHaveLength(1);
          await other.settled();
        }
        const records = await store.readStream('quarantine');
        expect(records).toHaveLength(1);
        const [record] = records;
        if (record.type !== 'EventQuarantined') throw new Error(`expected EventQuarantined, got ${record.type}`);
        expect(record.data).toMatchObject({ position: bad, streamId: 'bad', streamVersion: 1, eventType: 'Counted' });
        expect(record.data.error).toContain('n:');
        expect(quarantined).toHaveLength(1);
        expect(quarantined[0][0]).toMatchObject({ globalPosition: bad, eventType: 'Counted', streamId: 'bad' });
        expect(quarantined[0][1]).toBe(true);
      } finally {
        await store.close();
      }
    });

    test('a store whose registry lacks EventQuarantined skips the row all the same, and signals it unrecorded', async () => {
      const { store } = u;
      const signalled: boolean[] = [];
      store.signals.on('quarantined', (_e, recorded) => signalled.push(recorded));
      const bad = await insertUnreadable(store, 'bad', { n: 'oops' });
      await store.append('ok', [counted(1)]);
      expect(await store.readStream('bad')).toEqual([]);
      const b = await store.readBatch(START);
      expect(ns(b.events)).toEqual([1]);
      expect(b.checkpoint.position).toBeGreaterThan(bad);
      await store.settled();
      expect(signalled).toEqual([false]);
    });

    test('a batch with one invalid event is rejected whole, naming the type and the field', async () => {
      const { store } = u;
      const err = await store
        // @ts-expect-error: n must be a number (the compiler says so too; this checks the runtime gate)
        .append('v', [counted(1), { type: 'Counted', data: { n: 'two' } }, counted(3)])
        .catch((e) => e);
      expect(err).toBeInstanceOf(EventValidationError);
      expect(err.message).toMatch(/Counted/);
      expect(err.message).toMatch(/n:/);
      expect(await countEvents(store)).toBe(0);
    });

    test('an unknown event type is rejected and lists the known ones', async () => {
      const { store } = u;
      // @ts-expect-error: not a registered type (the compiler says so too; this checks the runtime gate)
      const err = await store.append('v', [{ type: 'Nope', data: {} }]).catch((e) => e);
      expect(err).toBeInstanceOf(EventValidationError);
      expect(err.message).toMatch(/unknown event type.*Counted, Labelled/);
      expect(await countEvents(store)).toBe(0);
    });

    sql?.validation();
  });

  describe('concurrency', () => {
    test('concurrent appenders expecting the same version: exactly one wins', async () => {
      const { store } = u;
      await store.append('race', [counted(0)]);
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.append('race', [counted(i + 1)], { expectedVersion: 1 })),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(7);
      for (const l of lost) expect(l.reason).toBeInstanceOf(ConcurrencyError);
      expect(await store.streamVersion('race')).toBe(2);
    });

    test('concurrent appenders with any: all land, with gap-free stream versions', async () => {
      const { store } = u;
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.append('many', [counted(i), counted(i + 100)])));
      const events = await store.readStream('many');
      expect(events.map((e) => e.streamVersion)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      // each batch stays contiguous
      for (let i = 0; i < 40; i += 2) expect(ns(events)[i + 1]).toBe(ns(events)[i] + 100);
    });

    test('single appends, batches and appends inside transactions racing on one stream with any: all land, gap-free', async () => {
      const { store } = u;
      // Outside a transaction an append takes the one-statement path and falls back to
      // append_events when a racer took its version; inside one it is append_events directly.
      const jobs = Array.from({ length: 24 }, (_, i) => {
        if (i % 3 === 0) return store.append('mixed', [counted(i)]);
        if (i % 3 === 1) return store.append('mixed', [counted(i), counted(i + 1000)]);
        return store.transaction((tx) => tx.append('mixed', [counted(i)]));
      });
      const results = await Promise.all(jobs);
      expect(results.map((r) => r.duplicate)).toEqual(results.map(() => false));
      const events = await store.readStream('mixed');
      expect(events.map((e) => e.streamVersion)).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
      const written = ns(events).sort((a, b) => a - b);
      const sent = Array.from({ length: 24 }, (_, i) => (i % 3 === 1 ? [i, i + 1000] : [i])).flat();
      expect(written).toEqual(sent.sort((a, b) => a - b));
      // each result names the versions its events got
      for (const r of results) expect(r.nextExpectedVersion).toBeGreaterThanOrEqual(1);
      expect(new Set(results.map((r) => r.nextExpectedVersion)).size).toBe(24);
    });

    test('a retried single event returns its original position, inside or outside a transaction', async () => {
      const { store } = u;
      const id = randomUUID();
      const first = await store.append('once', [counted(1, id)]);
      const again = await store.append('once', [counted(1, id)]);
      const inTx = await store.transaction((tx) => tx.append('once', [counted(1, id)]));
      for (const r of [again, inTx]) {
        expect(r.duplicate).toBe(true);
        expect(r.globalPositions).toEqual(first.globalPositions);
        expect(r.nextExpectedVersion).toBe(1);
      }
      expect(await countEvents(store)).toBe(1);
    });

    test('a reader never jumps past a transaction that took an earlier position but has not committed', async () => {
      const { backend, store } = u;
      await (backend.concurrent ? readerWaitsForOpenTransaction : transactionAppendsReadInOrder)(store);
    });

    test('four concurrent appenders and a live subscriber: the subscriber sees every event exactly once', async () => {
      const { store } = u;
      const seen: number[] = [];
      const sub = new Subscription(store, {
        name: 'four-writers',
        pollIntervalMs: 20,
        handle: async (events) => {
          seen.push(...ns(events));
        },
      });
      const errors: unknown[] = [];
      sub.on('error', (e) => errors.push(e));
      sub.start();
      const writers = Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; i < 50; i++) await store.append(`w-${w}`, [counted(w * 1000 + i)]);
      });
      await Promise.all(writers);
      await waitFor(() => seen.length >= 200, '200 events');
      // A duplicate would come from a re-read before the checkpoint passed the head.
      await waitFor(
        async () => (sub.position?.position ?? 0) >= (await store.headPosition()),
        'the checkpoint at the head',
      );
      await sub.stop();
      expect(errors.map(String)).toEqual([]);
      expect(seen).toHaveLength(200);
      expect(new Set(seen).size).toBe(200);
      for (let w = 0; w < 4; w++) {
        const mine = seen.filter((n) => Math.floor(n / 1000) === w);
        expect(mine).toEqual(Array.from({ length: 50 }, (_, i) => w * 1000 + i));
      }
    });

    sql?.concurrency();
  });

  describe('subscriptions', () => {
    test('with eventTypes only those are read, and the checkpoint still passes the others', async () => {
      const { store } = u;
      await store.append('s-types', [counted(1), { type: 'Labelled', data: { label: 'a' } }, counted(2)]);
      await store.append('s-types', [counted(3), counted(4)]);
      const head = await store.readBatch(START, 100);
      const last = head.checkpoint;
      const only = await store.readBatch(START, 100, ['Labelled']);
      expect(only.events.map((e) => e.type)).toEqual(['Labelled']);
      expect(only.checkpoint).toEqual(last); // a short page: everything up to the last event was seen
      const none = await store.readBatch(START, 100, ['NoSuchType']);
      expect(none.events).toEqual([]);
      expect(none.checkpoint).toEqual(last);
      const full = await store.readBatch(START, 1, ['Counted']);
      expect(ns(full.events)).toEqual([1]);
      expect(full.checkpoint.position).toBe(full.events[0].globalPosition); // a full page stops at its last event

      const seen: string[] = [];
      const sub = new Subscription(store, {
        name: 'types-only',
        eventTypes: ['Labelled'],
        handle: async (events) => {
          seen.push(...events.map((e) => e.type));
        },
      });
      await sub.catchUp();
      expect(seen).toEqual(['Labelled']);
      expect(await loadCheckpoint(store.db, 'types-only')).toEqual(last);
    });

    test('with streams only those streams are read (with or without types), and the checkpoint still passes the others', async () => {
      const { store } = u;
      await store.append('s-mine', [counted(1), { type: 'Labelled', data: { label: 'a' } }]);
      await store.append('s-other', [counted(2), { type: 'Labelled', data: { label: 'b' } }]);
      await store.append('s-mine', [counted(3)]);
      await store.append('s-other', [counted(4)]);
      const last = (await store.readBatch(START, 100)).checkpoint;
      const mine = await store.readBatch(START, 100, undefined, ['s-mine']);
      expect(mine.events.map((e) => [e.streamId, e.type])).toEqual([
        ['s-mine', 'Counted'],
        ['s-mine', 'Labelled'],
        ['s-mine', 'Counted'],
      ]);
      expect(mine.checkpoint).toEqual(last);
      const both = await store.readBatch(START, 100, ['Counted'], ['s-mine']);
      expect(ns(both.events)).toEqual([1, 3]);
      expect(both.checkpoint).toEqual(last);
      const full = await store.readBatch(START, 1, ['Counted'], ['s-other']);
      expect(ns(full.events)).toEqual([2]);
      expect(full.checkpoint.position).toBe(full.events[0].globalPosition);

      const seen: number[] = [];
      const sub = new Subscription(store, {
        name: 'streams-only',
        eventTypes: ['Counted'],
        streams: ['s-other'],
        handle: async (events) => {
          seen.push(...ns(events));
        },
      });
      await sub.catchUp();
      expect(seen).toEqual([2, 4]);
      expect(await loadCheckpoint(store.db, 'streams-only')).toEqual(last);
    });

    test('catch up from the stored checkpoint, then go live', async () => {
      const { store } = u;
      for (let i = 1; i <= 5; i++) await store.append('sub', [counted(i)]);
      const seen: number[] = [];
      const handle = async (events: TestEvent[]) => {
        seen.push(...ns(events));
      };
      const first = new Subscription(store, { name: 'p1', handle, batchSize: 2 });
      expect(await first.catchUp()).toBe(5);
      expect(seen).toEqual([1, 2, 3, 4, 5]);
      const cp = await loadCheckpoint(store.db, 'p1');
      expect(cp.position).toBe(await store.headPosition());

      // a new subscriber with the same name resumes after the checkpoint and then goes live
      const second = new Subscription(store, { name: 'p1', handle, pollIntervalMs: 10_000 });
      second.start();
      await store.append('sub', [counted(6)]);
      await waitFor(() => seen.length === 6, 'the live event (woken by the append, not by the 10 s poll)');
      await second.stop();
      expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    });

    test('a transactional handler that fails leaves neither its appends nor the checkpoint behind', async () => {
      const { store } = u;
      await store.append('t', [counted(1)]);
      let fail = true;
      const sub = new Subscription(store, {
        name: 'tx-appends',
        eventTypes: ['Counted'],
        handle: async (events, { store: tx }) => {
          for (const n of ns(events)) await tx.append('t-out', [{ type: 'Labelled', data: { label: `saw ${n}` } }]);
          if (fail) throw new Error('boom');
        },
      });
      await expect(sub.catchUp()).rejects.toThrow('boom');
      expect(await store.streamVersion('t-out')).toBe(0);
      expect(await countEvents(store)).toBe(1);
      expect(await loadCheckpoint(store.db, 'tx-appends')).toEqual(START);
      fail = false;
      expect(await sub.catchUp()).toBe(1);
      expect((await store.readStream('t-out')).map(labelOf)).toEqual(['saw 1']);
      expect((await loadCheckpoint(store.db, 'tx-appends')).position).toBe(await store.headPosition());
    });

    test('survives a reconnect without losing or repeating an event', async () => {
      const { backend, store } = u;
      const seen: number[] = [];
      const errors: unknown[] = [];
      const sub = new Subscription(store, {
        name: 'reconnect',
        pollIntervalMs: 20,
        minBackoffMs: 10,
        handle: async (events) => {
          seen.push(...ns(events));
        },
      });
      sub.on('error', (e) => errors.push(e));
      sub.start();
      for (let i = 0; i < 30; i++) await store.append('rc', [counted(i)]);
      await waitFor(() => seen.length === 30, 'the first 30');
      if (backend.dropConnections) {
        const dropped = await backend.dropConnections();
        expect(dropped).toBeGreaterThan(0);
      } else {
        // embedded: a restart of the subscriber stands in for a reconnect
        await sub.stop();
        sub.start();
      }
      for (let i = 30; i < 60; i++) {
        // the writer reconnects too; a write that hit the dropped connection is retried with its id
        const id = randomUUID();
        for (let attempt = 0; ; attempt++) {
          try {
            await store.append('rc', [counted(i, id)]);
            break;
          } catch (e) {
            if (attempt > 5) throw e;
            await sleep(20);
          }
        }
      }
      await waitFor(() => seen.length >= 60, 'all 60 events');
      await waitFor(
        async () => (sub.position?.position ?? 0) >= (await store.headPosition()),
        'the checkpoint at the head',
      );
      await sub.stop();
      expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => i));
    });

    sql?.subscriptions();
  });
}

/** The SQL-level tests that belong to groups of the API contract. */
function sqlLevel(u: UnderTest): SqlLevel {
  return {
    appendAndRead() {
      test('redacted before it is written: the stored rows hold neither the secret nor the token (raw SQL)', async () => {
        const { store } = u;
        await appendSecrets(store);
        const rows = await store.db.query<{ t: string }>(
          "select data::text || metadata::text as t from events where stream_id = 's-secret'",
        );
        expect(rows).toHaveLength(2);
        const all = rows.map((r) => r.t).join('\n');
        expect(all).not.toContain('sk-live-42xyz');
        expect(all).not.toContain('tok.123');
      });
    },

    validation() {
      test('old schema versions are upcast when read and never rewritten', async () => {
        const { store } = u;
        await store.db.query(
          `insert into events(stream_id, stream_version, event_id, event_type, schema_version, data)
           values ('old', 1, $1, 'Labelled', 1, '{"name": "gpu-a"}')`,
          [randomUUID()],
        );
        await store.append('old', [{ type: 'Labelled', data: { label: 'gpu-b' } }]);
        const events = await store.readStream('old');
        expect(events.map((e) => e.data)).toEqual([{ label: 'gpu-a' }, { label: 'gpu-b' }]);
        expect(events.map((e) => e.schemaVersion)).toEqual([1, 2]);
        const raw = await store.db.query<{ data: unknown }>(
          `select data from events where stream_id = 'old' order by 1`,
        );
        expect(raw.map((r) => r.data)).toContainEqual({ name: 'gpu-a' });
      });
    },

    concurrency() {
      test('reads in transaction order when transaction ids gain a digit (999 -> 1000 style)', async () => {
        const { store } = u;
        // PGlite sorts xid8 as text ('1013' before '952'); the store must order numerically.
        await store.db.exec('create table xid_burner (n int)');
        const currentXid = async () =>
          Number((await store.db.query<{ x: string }>('select pg_current_xact_id()::text as x'))[0].x);
        const burn = async (count: number) => {
          if (count <= 0) return;
          // each subtransaction that writes takes its own transaction id
          await store.db.exec(
            `do $$ begin for i in 1..${count} loop begin insert into xid_burner values (i); exception when others then null; end; end loop; end $$`,
          );
        };
        const start = await currentXid();
        const target = 10 ** String(start + 1_020).length; // the next power of ten
        const near = target - start < 200_000;
        // in steps, so that ids the other sessions take meanwhile cannot carry this one past the boundary
        for (let x = start; near && x < target - 1_000; x = await currentXid())
          await burn(Math.min(target - 1_000 - x, 2_000));
        if (near && store.db.kind === 'postgres') {
          // A server's transaction ids are shared by every database on it, and the other test files
          // take them too: event 1 takes its id in a transaction held open below the boundary while
          // this session burns past it, then event 2 is appended and event 1 committed.
          let release: () => void = () => {};
          const held = new Promise<void>((r) => {
            release = r;
          });
          let firstTaken: () => void = () => {};
          const taken = new Promise<void>((r) => {
            firstTaken = r;
          });
          const first = store.transaction(async (tx) => {
            await tx.append('digits', [counted(1)]);
            firstTaken();
            await held;
          });
          await taken;
          while ((await currentXid()) < target) await burn(50);
          await store.append('digits-2', [counted(2)]); // another stream: event 1's holds its lock
          release();
          await first;
        } else {
          // one session alone takes ids here: each check takes one and each burn(1) two
          if (near) await burn(target - (await currentXid()) - 20);
          if (near) while ((await currentXid()) < target - 6) await burn(1);
          await store.append('digits', [counted(1)]);
          await burn(5);
          await store.append('digits-2', [counted(2)]);
        }
        const events = (await store.readBatch(START)).events;
        expect(ns(events)).toEqual([1, 2]);
        if (near) {
          expect(BigInt(events[0].txId)).toBeLessThan(BigInt(target));
          expect(BigInt(events[1].txId)).toBeGreaterThanOrEqual(BigInt(target));
        } // else: a long-used server, too far from the next digit to burn there; the order is still checked

        const next = await store.readBatch({ txId: events[0].txId, position: events[0].globalPosition });
        expect(ns(next.events)).toEqual([2]);
      });
    },

    subscriptions() {
      test('a transactional handler that fails leaves neither its writes nor the checkpoint behind', async () => {
        const { store } = u;
        await store.db.exec('create table sub_side (n int)');
        await store.append('t', [counted(1)]);
        let fail = true;
        const sub = new Subscription(store, {
          name: 'tx',
          handle: async (events, { tx }) => {
            for (const n of ns(events)) await tx.query('insert into sub_side values ($1)', [n]);
            if (fail) throw new Error('boom');
          },
        });
        await expect(sub.catchUp()).rejects.toThrow('boom');
        expect(await store.db.query('select * from sub_side')).toEqual([]);
        expect(await loadCheckpoint(store.db, 'tx')).toEqual(START);
        fail = false;
        expect(await sub.catchUp()).toBe(1);
        expect(await store.db.query('select n from sub_side')).toEqual([{ n: 1 }]);
      });
    },
  };
}

/** The groups that are SQL only: the triggers of the events table, COPY, the migrator. */
function sqlOnlyGroups(u: UnderTest): void {
  describe('append-only', () => {
    test.each([
      ['UPDATE', `update events set data = '{"n": 9}'`],
      ['DELETE', 'delete from events'],
      ['TRUNCATE', 'truncate events'],
    ])('%s on events fails with a clear error and changes nothing', async (op, statement) => {
      const { store } = u;
      await store.append('ao', [counted(1)]);
      const err = await store.db.exec(statement).catch((e) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toContain(`append-only: ${op} is not allowed`);
      expect(ns(await store.readStream('ao'))).toEqual([1]);
    });
  });

  describe('COPY (copyIn), as a rebuild loads its tables', () => {
    const columns = ['id', 'label', 'n', 'flag', 'at', 'doc', 'x'];
    const create = (table: string) =>
      u.store.db.exec(
        `create table ${table} (id integer primary key, label text, n bigint, flag boolean, at timestamptz, doc jsonb,
           x double precision)`,
      );
    const rows = [
      {
        id: 1,
        label: 'tab\there, newline\nthere, back\\slash, cr\r, "quotes"',
        n: 2 ** 40,
        flag: true,
        at: '2026-11-27T18:25:42.123Z',
        doc: { a: [1, 'x\ty'], b: null, s: 'back\\slash "q"' },
      },
      { id: 2, label: 'ünïcode ✓ \\N not null', n: 0, flag: false, at: null, doc: 'a JSON string' },
      { id: 3, label: null, n: null, flag: null, at: '2026-01-01T00:00:00.000Z', doc: null },
      { id: 4, label: '', n: -7, flag: true, at: '2026-11-27T23:59:59.999Z', doc: [] },
      // integers are written as digits without String(): the edges of that
      { id: 10, label: 'x', n: Number.MAX_SAFE_INTEGER, flag: false, at: null, doc: 12, x: -0 },
      { id: 205, label: 'y', n: -Number.MAX_SAFE_INTEGER, flag: false, at: null, doc: -3.25, x: 1e21 },
      { id: 3000, label: 'z', n: 1000000, flag: false, at: null, doc: 0, x: 0.1 + 0.2 },
    ];

    test('loads rows exactly as json_populate_record would from the same JSON', async () => {
      const { store } = u;
      await create('copied');
      await create('populated');
      await store.db.copyIn('copied', columns, copyText(rows, columns, new Set(['doc'])));
      await store.db.query(
        `insert into populated select r.* from json_array_elements($1::text::json) e,
           json_populate_record(null::populated, e.value) r`,
        [JSON.stringify(rows)],
      );
      const read = (t: string) =>
        store.db.query(`select id, label, n, flag, at::text as at, doc::text as doc, x from ${t} order by id`);
      const copied = await read('copied');
      expect(copied).toEqual(await read('populated'));
      expect(copied.map((r) => r.label)).toEqual(rows.map((r) => r.label));
      expect(copied[1].doc).toBe('"a JSON string"');
      expect(copied[2].doc).toBeNull();
      expect(copied.map((r) => r.id)).toEqual([1, 2, 3, 4, 10, 205, 3000]);
      expect(copied.slice(4).map((r) => [r.n, r.doc, r.x])).toEqual([
        [Number.MAX_SAFE_INTEGER, '12', 0], // -0 is "0" in JSON, so 0 both ways
        [-Number.MAX_SAFE_INTEGER, '-3.25', 1e21],
        [1000000, '0', 0.1 + 0.2],
      ]);
    });

    test('a bad row fails with the server error, loads nothing, and the database stays usable', async () => {
      const { store } = u;
      await create('strict');
      const bad = copyText([rows[0], { ...rows[1], id: 'not a number' }], columns, new Set(['doc']));
      const err = await Promise.race([
        store.db.copyIn('strict', columns, bad).then(
          () => new Error('the copy succeeded'),
          (e: unknown) => e,
        ),
        sleep(10_000).then(() => new Error('the copy neither finished nor failed (hung)')),
      ]);
      expect(String((err as Error).message)).toMatch(/invalid input syntax for type integer/);
      const [{ c }] = await store.db.query<{ c: number }>('select count(*)::int as c from strict');
      expect(c).toBe(0);
      await store.db.copyIn('strict', columns, copyText(rows, columns, new Set(['doc'])));
      const [{ c: after }] = await store.db.query<{ c: number }>('select count(*)::int as c from strict');
      expect(after).toBe(rows.length);
    });
  });

  describe('migrations', () => {
    test('records each applied file with its checksum and is a no-op the second time', async () => {
      const { store } = u;
      const rows = await store.db.query<{ name: string; checksum: string }>(
        'select name, checksum from schema_migrations order by version',
      );
      const files = loadMigrations();
      expect(rows.map((r) => r.name)).toEqual(files.map((f) => f.name));
      expect(rows.map((r) => r.checksum)).toEqual(files.map((f) => f.checksum));
      expect((await migrate(store.db)).applied).toEqual([]);
    });

    test('refuses to start when an applied migration has changed', async () => {
      const { store } = u;
      const files = loadMigrations();
      const changed = files.map((f, i) => (i === 0 ? { ...f, checksum: 'f'.repeat(64) } : f));
      const err = await migrate(store.db, changed).catch((e) => e);
      expect(err).toBeInstanceOf(MigrationError);
      expect(err.message).toContain(`migration ${files[0].name} was changed after it was applied`);
    });

    test('two processes migrating a fresh schema at once both succeed and apply each file once', async () => {
      const { backend } = u;
      const db1 = await backend.openDb();
      const db2 = backend.concurrent ? await backend.openDb(db1.schema) : db1;
      try {
        const [a, b] = await Promise.all([migrate(db1), migrate(db2)]);
        expect([...a.applied, ...b.applied].sort()).toEqual(loadMigrations().map((m) => m.name));
        const rows = await db1.query<{ c: number }>('select count(*)::bigint as c from schema_migrations');
        expect(rows[0].c).toBe(loadMigrations().length);
      } finally {
        await db1.close();
        if (db2 !== db1) await db2.close();
      }
    });
  });
}
