import { appRegistry } from '../../events/index';
import { ALL_PROJECTIONS, scalingDecisionsProjection, workersProjection } from '../../projections/index';
import { foldAll, type Projection } from '../../projections/projection';
import { asOfSchemaName, rebuildProjections } from '../../src/projections/rebuild';
import { checkpointName, ProjectionRunner } from '../../src/projections/runner';
import { reached } from '../../src/store/checkpoints';
import type { EventStore, StoredEvent } from '../../src/store/event-store';
import { openStore } from '../../src/store/index';
import { freshSchema, type TestBackend } from '../helpers/backends';
import { fillWithTimeline, removeStoreDir, TIMELINE_DAY, timelineResults, timelineStoreDir } from '../helpers/timeline';
import {
  allEvents,
  appendMore,
  catchUpAfterSwap,
  checkpoints,
  eventTime,
  expectAtLastEvent,
  folded,
  foldedRows,
  snapshot,
  tableRows,
} from './helpers';

/** The rebuild engine on one backend: one store filled with the operators' timeline, used in order. */
export function rebuildContract(makeBackend: () => TestBackend, opts: { concurrent: boolean }): void {
  let backend: TestBackend;
  let store: EventStore;
  let runner: ProjectionRunner;
  let keyCycle: number;
  const asOfSchemas: string[] = [];
  /** A fresh as-of schema name on a shared server; the default names on PGlite (one per test file). */
  const into = (fallback: string) => {
    const name = backend.concurrent ? freshSchema('asof') : fallback;
    asOfSchemas.push(name);
    return name;
  };

  let dataDir: string | undefined;

  beforeAll(async () => {
    backend = makeBackend();
    if (backend.name === 'pglite') {
      // a copy of the operators' timeline as recorded once per run on PGlite (test/helpers/timeline.ts)
      dataDir = await timelineStoreDir();
      store = await openStore({ target: { kind: 'pglite', dataDir }, registry: appRegistry });
      keyCycle = (await timelineResults())[2].keyCycle; // the spurious 0 -> 51 jump at 18:25:42
    } else {
      store = await backend.open(appRegistry);
      const { results } = await fillWithTimeline(store);
      keyCycle = results[2].keyCycle; // the spurious 0 -> 51 jump at 18:25:42
    }
    runner = new ProjectionRunner(store, ALL_PROJECTIONS);
    await runner.catchUp();
  }, 240_000);

  afterAll(async () => {
    for (const s of asOfSchemas) await store?.db.exec(`drop schema if exists "${s}" cascade`).catch(() => {});
    await store?.close();
    await backend?.teardown();
    if (dataDir) removeStoreDir(dataDir);
  });

  test('a full rebuild gives exactly the incremental tables, and the fold of all events', async () => {
    const schema = store.db.schema;
    const before = await snapshot(store.db, schema);
    expect(before.workers.length).toBeGreaterThan(0);
    expect(before.scaling_decisions.length).toBeGreaterThan(0);
    const events = await allEvents(store);

    const res = await rebuildProjections(store, { batchSize: 50 });

    expect(res.mode).toBe('swap');
    // only the event types the projections fold are read (the timeline has others: TaskCountObserved, ...)
    expect(folded(events).length).toBeLessThan(events.length);
    expect(res.events).toBe(folded(events).length);
    expect(res.lastPosition).toBe(Math.max(...events.map((e) => e.globalPosition)));
    const after = await snapshot(store.db, schema);
    expect(after).toEqual(before);
    for (const p of ALL_PROJECTIONS) {
      expect(after[p.table]).toEqual(await foldedRows(store.db, schema, p, events));
      expect(res.tables.find((t) => t.projection === p.name)?.rows).toBe(after[p.table].length);
    }
    // every checkpoint is the last event read
    const last = events[events.length - 1];
    const cps = await checkpoints(store.db);
    for (const p of ALL_PROJECTIONS) {
      expect(cps[checkpointName(p)]).toEqual({ txId: last.txId, position: last.globalPosition });
    }
    // the swapped-in tables carry the migration's names: indexes, primary keys, no side tables left
    const names = await store.db.query<{ relname: string }>(
      `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and c.relkind in ('r', 'i') order by 1`,
      [schema],
    );
    const rel = names.map((r) => r.relname);
    expect(rel).toEqual(expect.arrayContaining(['workers', 'workers_pkey', 'workers_status_idx']));
    expect(rel).toEqual(expect.arrayContaining(['scaling_decisions_pkey', 'scaling_decisions_decided_at_idx']));
    expect(rel.filter((r) => r.includes('rebuild'))).toEqual([]);
    const cons = await store.db.query<{ conname: string }>(
      `select conname from pg_constraint where conrelid = $1::regclass order by 1`,
      [`"${schema}".workers`],
    );
    expect(cons.map((c) => c.conname)).toEqual(expect.arrayContaining(['workers_pkey', 'workers_status_check']));

    // a second rebuild works on the swapped-in tables, and changes nothing
    const again = await rebuildProjections(store, { projections: [workersProjection] });
    expect(again.tables.map((t) => t.table)).toEqual(['workers']);
    expect(await snapshot(store.db, schema)).toEqual(before);
    // the runner carries on from the new checkpoint: nothing to apply, nothing applied twice
    expect((await catchUpAfterSwap(runner)).applied).toBe(0);
    expect(await snapshot(store.db, schema)).toEqual(before);
  });

  test('a table is built with autovacuum off and swapped in with the storage parameters of the live table', async () => {
    const schema = store.db.schema;
    const options = async (table: string) => {
      const rows = await store.db.query<{ o: string[] | null }>(
        'select reloptions as o from pg_class where oid = $1::regclass',
        [`"${schema}"."${table}"`],
      );
      return rows[0].o;
    };
    await store.db.exec(`alter table "${schema}".workers set (fillfactor = 70)`);
    const during: (string[] | null)[] = [];
    await rebuildProjections(store, {
      projections: [workersProjection],
      batchSize: 20,
      betweenBatches: async () => {
        if (during.length === 0) during.push(await options('workers__rebuild'));
      },
    });
    expect(during).toEqual([['autovacuum_enabled=false']]);
    expect(await options('workers')).toEqual(['fillfactor=70']);
    // and back to none: the next rebuild takes none over
    await store.db.exec(`alter table "${schema}".workers reset (fillfactor)`);
    await rebuildProjections(store, { projections: [workersProjection] });
    expect(await options('workers')).toEqual(null);
  });

  test('rows a later batch deletes are deleted, read back first when evicted, and counted', async () => {
    const schema = store.db.schema;
    // the workers still waiting: a row from the spawn request until activation, termination or failure
    const waiting: Projection<{ worker_id: string; last_position: number }> = {
      name: 'waiting_workers',
      table: 'waiting_workers',
      key: 'worker_id',
      columns: ['worker_id', 'last_position'],
      eventTypes: workersProjection.eventTypes,
      keyOf: (e) => workersProjection.keyOf(e),
      evolve: (row, e) =>
        e.type === 'WorkerSpawnRequested'
          ? { worker_id: e.data.workerId, last_position: e.globalPosition }
          : row && e.type === 'WorkerSpawned'
            ? { ...row, last_position: e.globalPosition }
            : undefined,
    };
    await store.db.exec(
      `create table "${schema}".waiting_workers (worker_id text primary key, last_position bigint not null)`,
    );
    try {
      const events = await allEvents(store);
      const requested = events.filter((e) => e.type === 'WorkerSpawnRequested').length;
      const expected = foldAll(waiting, events);
      expect(requested).toBeGreaterThan(expected.size); // some rows were deleted
      // tiny batches and cache: rows are written, evicted, read back and then deleted
      const res = await rebuildProjections(store, { projections: [waiting], batchSize: 5, cacheRows: 1 });
      expect(res.tables).toEqual([
        {
          projection: 'waiting_workers',
          table: 'waiting_workers',
          rows: expected.size,
          events: folded(events, [waiting]).length,
        },
      ]);
      expect(await tableRows(store.db, schema, waiting)).toEqual(await foldedRows(store.db, schema, waiting, events));
    } finally {
      await store.db.exec(`drop table if exists "${schema}".waiting_workers`);
      await store.db.exec(`delete from projection_checkpoints where name = 'projection:waiting_workers'`);
    }
  });

  test('--until a position builds an as-of schema equal to the fold up to it; live tables untouched', async () => {
    const schema = store.db.schema;
    const events = await allEvents(store);
    const decided = events.find((e) => e.type === 'ScalingDecided' && e.data.cycle === keyCycle) as StoredEvent;
    const position = decided.globalPosition;
    const liveBefore = await snapshot(store.db, schema);
    const cpsBefore = await checkpoints(store.db);

    const name = into(asOfSchemaName({ kind: 'position', position }));
    const res = await rebuildProjections(store, { until: { kind: 'position', position }, into: name });

    expect(res.mode).toBe('as-of');
    expect(res.schema).toBe(name);
    if (!backend.concurrent) expect(name).toBe(`asof_pos_${position}`);
    const upTo = events.filter((e) => e.globalPosition <= position);
    expect(res.events).toBe(folded(upTo).length);
    expect(res.lastPosition).toBe(position);
    for (const p of ALL_PROJECTIONS) {
      const rows = await tableRows(store.db, name, p);
      expect(rows).toEqual(await foldedRows(store.db, schema, p, upTo));
    }
    // the last decision in it is the one at the jump
    const decisions = (await tableRows(store.db, name, scalingDecisionsProjection)) as { cycle: number }[];
    expect(decisions[decisions.length - 1].cycle).toBe(keyCycle);
    expect((await tableRows(store.db, name, workersProjection)).length).toBeLessThan(liveBefore.workers.length);
    expect(await snapshot(store.db, schema)).toEqual(liveBefore);
    expect(await checkpoints(store.db)).toEqual(cpsBefore);
    // built with autovacuum off, left with the defaults
    const options = await store.db.query<{ relname: string; o: string[] | null }>(
      `select c.relname, c.reloptions as o from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and c.relkind = 'r' order by 1`,
      [name],
    );
    expect(options).toEqual(
      ALL_PROJECTIONS.map((p) => ({ relname: p.table, o: null })).sort((a, b) => a.relname.localeCompare(b.relname)),
    );
  });

  test('--until a time folds the events whose own time (data.at) is at or before it', async () => {
    const schema = store.db.schema;
    const events = await allEvents(store);
    const time = new Date(`${TIMELINE_DAY}T18:26:00.000Z`);
    const liveBefore = await snapshot(store.db, schema);

    const name = into(asOfSchemaName({ kind: 'time', time }));
    const res = await rebuildProjections(store, { until: { kind: 'time', time }, into: name });

    if (!backend.concurrent) expect(name).toBe('asof_20261127_182600');
    const upTo = events.filter((e) => eventTime(e).getTime() <= time.getTime());
    expect(upTo.length).toBeGreaterThan(0);
    expect(upTo.length).toBeLessThan(events.length);
    expect(res.events).toBe(folded(upTo).length);
    for (const p of ALL_PROJECTIONS) {
      expect(await tableRows(store.db, name, p)).toEqual(await foldedRows(store.db, schema, p, upTo));
    }
    // building the same as-of schema again replaces it
    const again = await rebuildProjections(store, { until: { kind: 'time', time }, into: name });
    expect(again.tables).toEqual(res.tables);
    expect(await snapshot(store.db, schema)).toEqual(liveBefore);
  });

  test('a rebuild interleaved with appends and live catch-ups ends equal to the fold, at the right checkpoint', async () => {
    const schema = store.db.schema;
    const existing = ((await tableRows(store.db, schema, workersProjection)) as { worker_id: string }[]).map(
      (w) => w.worker_id,
    );
    let hooks = 0;
    let appended = 0;
    let lateEvents = 0;
    const res = await rebuildProjections(store, {
      batchSize: 40,
      betweenBatches: async () => {
        if (hooks >= 4) return;
        appended += await appendMore(store, hooks, existing[hooks]);
        hooks += 1;
        // the live runner keeps the live tables current meanwhile
        await runner.catchUp();
      },
      // between the build's last read and the swap: events the swap must catch up, and a live
      // runner that has already applied them to the old tables and moved its checkpoint
      beforeSwap: async () => {
        lateEvents = await appendMore(store, 4, existing[4]);
        await runner.catchUp();
      },
    });
    expect(hooks).toBe(4);
    expect(appended).toBeGreaterThan(0);
    // On PGlite the swap's catch-up reads them all. On a shared server a transaction open anywhere in
    // the cluster can hold them back from every catch-up reader (the xmin rule): then neither the
    // runner nor the swap has them, and they lie after the stored checkpoint, for the runner.
    if (backend.concurrent) expect(res.caughtUp).toBeLessThanOrEqual(lateEvents);
    else expect(res.caughtUp).toBe(lateEvents);

    let events = await expectAtLastEvent(store);
    expect(res.events).toBe(folded(events).length);
    const last = events[events.length - 1];
    expect(reached(res.checkpoint, last.txId, last.globalPosition)).toBe(true);

    // more events: a runner starting from the stored checkpoints applies exactly those, once each
    const more = await appendMore(store, 10, existing[5]);
    const fresh = new ProjectionRunner(store, ALL_PROJECTIONS);
    expect(await fresh.catchUp()).toBe(more * ALL_PROJECTIONS.length);
    events = await allEvents(store);
    for (const p of ALL_PROJECTIONS) {
      expect(await tableRows(store.db, schema, p)).toEqual(await foldedRows(store.db, schema, p, events));
    }
    // the runner that was live during the swap reloads its checkpoints and finds nothing left to do
    expect((await catchUpAfterSwap(runner)).applied).toBe(0);
    for (const p of ALL_PROJECTIONS) {
      expect(await tableRows(store.db, schema, p)).toEqual(await foldedRows(store.db, schema, p, events));
    }
  });

  // PGlite is one connection: the hooks of the test above stand in for concurrency there.
  if (!opts.concurrent) return;
  test('a rebuild while a live runner and a writer really run beside it', async () => {
    const live = new ProjectionRunner(store, ALL_PROJECTIONS, 20);
    const errors: unknown[] = [];
    live.on('error', (err) => errors.push(err));
    live.start();
    let writing = true;
    let n = 100;
    const writer = (async () => {
      while (writing) {
        await appendMore(store, n++);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      await rebuildProjections(store, { batchSize: 25 });
      await rebuildProjections(store, { batchSize: 25 });
    } finally {
      writing = false;
      await writer;
      await live.stop();
    }
    // CheckpointConflictError is how the live runner learns of a swap; nothing else may go wrong
    expect(errors.filter((e) => (e as Error).name !== 'CheckpointConflictError')).toEqual([]);
    const fresh = new ProjectionRunner(store, ALL_PROJECTIONS);
    await fresh.catchUp();
    await expectAtLastEvent(store);
  }, 120_000);
}
