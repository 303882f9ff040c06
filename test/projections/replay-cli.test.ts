import path from 'node:path';
import { appRegistry } from '../../events/index';
import { ALL_PROJECTIONS, foldAll, workersProjection } from '../../projections/index';
import type { CliIo } from '../../src/cli/context';
import { parseUntil } from '../../src/cli/flags';
import { main } from '../../src/cli/main';
import { selectProjections } from '../../src/cli/replay';
import { asOfSchemaName } from '../../src/projections/rebuild';
import { ProjectionRunner } from '../../src/projections/runner';
import { loadCheckpoint } from '../../src/store/checkpoints';
import type { StoredEvent } from '../../src/store/event-store';
import { openStore } from '../../src/store/index';
import { Capture } from '../helpers/harness';
import { removeStoreDir, TIMELINE_DAY, timelineResults, timelineStoreDir } from '../helpers/timeline';
import { allEvents, eventTime, folded, snapshot } from './helpers';

/** `gpu-scaler replay` through main(argv, io), on a PGlite data directory filled (and closed) first. */
describe('gpu-scaler replay (CLI, embedded store)', () => {
  let dir: string;
  let url: string;
  let events: StoredEvent[];
  let liveRows: Record<string, number>;
  let keyPosition: number;

  const run = async (args: string[], isTTY = false) => {
    const stdout = new Capture();
    const stderr = new Capture();
    const io: CliIo = { stdout, stderr, stdin: process.stdin, env: { DATABASE_URL: url }, isTTY };
    const code = await main(['node', 'gpu-scaler', 'replay', ...args], io);
    return { code, stdout: stdout.text, stderr: stderr.text };
  };

  /** Opens the directory (after the CLI closed it) for a look. */
  const withDir = async <T>(fn: (store: Awaited<ReturnType<typeof openStore>>) => Promise<T>) => {
    const store = await openStore({ target: url, registry: appRegistry, listen: false });
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  };

  beforeAll(async () => {
    // a copy of the operators' timeline as recorded once per run (test/helpers/timeline.ts)
    // (its data directory is <dir>/db, as when this file recorded its own)
    dir = path.dirname(await timelineStoreDir());
    url = `pglite://${path.join(dir, 'db')}`;
    const results = await timelineResults();
    await withDir(async (store) => {
      await new ProjectionRunner(store, ALL_PROJECTIONS).catchUp();
      events = await allEvents(store);
      const snap = await snapshot(store.db, store.db.schema);
      liveRows = Object.fromEntries(Object.entries(snap).map(([t, rows]) => [t, rows.length]));
      const keyCycle = results[2].keyCycle;
      keyPosition = events.find((e) => e.type === 'ScalingDecided' && e.data.cycle === keyCycle)!.globalPosition;
    });
  }, 240_000);

  afterAll(() => {
    if (dir) removeStoreDir(path.join(dir, 'db'));
  });

  test('a full rebuild prints one summary line: events read, rows per table, seconds, events/s', async () => {
    const { code, stdout, stderr } = await run([]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^replay: ${folded(events).length} events read; workers ${liveRows.workers} rows, scaling_decisions ${liveRows.scaling_decisions} rows, ` +
          `anomalies ${liveRows.anomalies} rows, health_summaries ${liveRows.health_summaries} rows; ` +
          '\\d+\\.\\d\\d s, [\\d,]+ events/s$',
      ),
    );
    expect(lines[1]).toMatch(
      new RegExp(`^swapped into public at position ${events[events.length - 1].globalPosition}`),
    );
    // the tables are the same rows as before (the incremental ones)
    await withDir(async (store) => {
      const snap = await snapshot(store.db, store.db.schema);
      for (const [table, rows] of Object.entries(snap)) expect(rows.length).toBe(liveRows[table]);
    });
  }, 60_000);

  test('--json, one projection', async () => {
    const { code, stdout } = await run(['--projection', 'workers', '--json', '--batch-size', '7']);
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    expect(out).toMatchObject({
      mode: 'swap',
      schema: 'public',
      until: null,
      events: folded(events, [workersProjection]).length,
      caughtUp: 0,
      lastPosition: events[events.length - 1].globalPosition,
      checkpoint: { position: events[events.length - 1].globalPosition },
      query: null,
      tables: [{ projection: 'workers', table: 'public.workers', rows: liveRows.workers }],
    });
    expect(out.tables[0].events).toBe(events.filter((e) => e.type.startsWith('Worker')).length);
    expect(typeof out.seconds).toBe('number');
    expect(out.eventsPerSecond).toBeGreaterThan(0);
  }, 60_000);

  test('--until a position builds asof_pos_<n> and says how to query it', async () => {
    const { code, stdout } = await run(['--until', String(keyPosition)]);
    expect(code).toBe(0);
    const schema = `asof_pos_${keyPosition}`;
    const upTo = events.filter((e) => e.globalPosition <= keyPosition);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^replay: ${folded(upTo).length} events read; workers \\d+ rows, `));
    expect(lines[1]).toContain(`built as of position ${keyPosition} in schema ${schema}`);
    expect(lines[2]).toBe(`query it: gpu-scaler sql "select * from ${schema}.workers"`);
    // the printed command runs (it read "permission denied for schema" before the reader was granted it)
    const printed = /gpu-scaler sql "(.*)"$/.exec(lines[2])![1];
    const sqlOut = new Capture();
    const sqlErr = new Capture();
    const sqlCode = await main(['node', 'gpu-scaler', 'sql', printed], {
      stdout: sqlOut,
      stderr: sqlErr,
      stdin: process.stdin,
      env: { DATABASE_URL: url },
      isTTY: false,
    });
    expect(sqlErr.text).toBe('');
    expect(sqlCode).toBe(0);
    expect(sqlOut.text).toContain('worker_id');
    await withDir(async (store) => {
      const [{ n }] = await store.db.query<{ n: number }>(`select count(*)::int as n from ${schema}.workers`);
      expect(n).toBe(foldAll(ALL_PROJECTIONS[0], upTo).size);
      const snap = await snapshot(store.db, store.db.schema);
      for (const [table, rows] of Object.entries(snap)) expect(rows.length).toBe(liveRows[table]);
    });
  }, 60_000);

  test('--until a time (ISO or HH:MM with --utc) as JSON, with a progress bar on a terminal', async () => {
    const time = new Date(`${TIMELINE_DAY}T18:26:00Z`);
    const { code, stdout, stderr } = await run(['--until', '2026-11-27T18:26:00Z', '--json'], true);
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    const upTo = events.filter((e) => eventTime(e).getTime() <= time.getTime());
    expect(out).toMatchObject({
      mode: 'as-of',
      schema: 'asof_20261127_182600',
      until: { time: '2026-11-27T18:26:00.000Z' },
      events: folded(upTo).length,
      checkpoint: null,
      query: 'select * from asof_20261127_182600.workers',
    });
    expect(out.tables.map((t: { table: string }) => t.table)).toEqual([
      'asof_20261127_182600.workers',
      'asof_20261127_182600.scaling_decisions',
      'asof_20261127_182600.anomalies',
      'asof_20261127_182600.health_summaries',
    ]);
    expect(stderr).toMatch(/replay \|.*\| \d+% \| \d+\/\d+ events/);
  }, 60_000);

  test('after a restore (no reactor checkpoint) replay sets the reactor to the head; a reactor with one is left alone', async () => {
    const head = await withDir(async (store) => {
      await store.db.query("delete from projection_checkpoints where name = 'reactor'");
      return store.headPosition();
    });
    const first = await run([]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`the reactor had no checkpoint: set to position ${head}`);
    const cp = await withDir((store) => loadCheckpoint(store.db, 'reactor'));
    expect(cp.position).toBe(head);
    // a reactor that has decisions left to act on is never moved
    const earlier = { txId: cp.txId, position: 1 };
    await withDir((store) =>
      store.db.query("update projection_checkpoints set global_position = 1 where name = 'reactor'"),
    );
    const second = await run([]);
    expect(second.code).toBe(0);
    expect(second.stdout).not.toContain('the reactor had no checkpoint');
    expect(await withDir((store) => loadCheckpoint(store.db, 'reactor'))).toEqual(earlier);
  });

  test('bad usage exits 2 with a message', async () => {
    const bad = await run(['--projection', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--projection nope: no such projection; use all or one of workers, scaling_decisions');
    const badTime = await run(['--until', 'yesterday']);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toContain('--until "yesterday" is not a time');
    const into = await run(['--into', 'x']);
    expect(into.code).toBe(2);
    expect(into.stderr).toContain('--into needs --until');
  });

  test('option parsing', () => {
    expect(parseUntil('1200')).toEqual({ kind: 'position', position: 1200 });
    expect(parseUntil('18:26', { utc: true, now: new Date('2026-11-27T20:00:00Z') })).toEqual({
      kind: 'time',
      time: new Date('2026-11-27T18:26:00Z'),
    });
    expect(parseUntil('2026-11-27T18:26:00Z')).toEqual({ kind: 'time', time: new Date('2026-11-27T18:26:00Z') });
    expect(selectProjections('all')).toHaveLength(4);
    expect(selectProjections('anomalies,workers').map((p) => p.name)).toEqual(['workers', 'anomalies']);
    expect(asOfSchemaName({ kind: 'time', time: new Date('2026-11-27T18:26:00.250Z') })).toBe(
      'asof_20261127_182600_250',
    );
    expect(asOfSchemaName({ kind: 'position', position: 42 })).toBe('asof_pos_42');
  });
});
