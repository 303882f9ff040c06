import { Writable } from 'node:stream';
import { appRegistry } from '../../events/index';
import type { CliIo } from '../../src/cli/context';
import { queryEvents } from '../../src/cli/events';
import { runExplain } from '../../src/cli/explain';
import { rebuildProjections } from '../../src/projections/rebuild';
import { poolCycleEventsSql, taskTotalBefore, taskTotalsBefore } from '../../src/store/event-queries';
import type { EventStore } from '../../src/store/event-store';
import { EVENT_CYCLE_SQL, EVENT_TIME_SQL, eventTime } from '../../src/store/event-time';
import { decisionsBetween, observationsBetween, spawnOutcomesBetween } from '../../src/store/queries';
import { freshSchema, pgliteBackend, postgresBackend, TEST_DATABASE_URL, type TestBackend } from '../helpers/backends';

/** The boundary every command is asked about. */
const T = new Date('2026-11-27T18:25:42.000Z');

/** `at` values around T, in the forms an ISO 8601 `at` may take, and what they mean. */
const AROUND: { at: string; ms: number }[] = [
  { at: '2026-11-27T18:25:41.999Z', ms: -1 },
  { at: '2026-11-27T19:25:42.000+01:00', ms: 0 }, // T, with an offset: later than T as text
  { at: '2026-11-27T13:25:42.001-05:00', ms: 1 }, // just after T, earlier than T as text
  { at: '2026-11-27T18:25:43Z', ms: 1000 },
];

function captureIo(): CliIo & { out: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  const quiet = new Writable({ write: (_c, _e, done) => done() });
  return { stdout: sink, stderr: quiet, stdin: process.stdin, env: {}, isTTY: false, out: () => text };
}

const backends: [string, () => TestBackend][] = [['pglite', pgliteBackend]];
if (TEST_DATABASE_URL) backends.push(['postgres', () => postgresBackend()]);

describe.each(backends)('event time (%s)', (_name, make) => {
  let backend: TestBackend;
  let store: EventStore;
  /** Positions of the AROUND events, in order. */
  let positions: number[];

  beforeAll(async () => {
    backend = make();
    store = await backend.open(appRegistry, freshSchema('evtime'));
    const res = await store.append(
      'controller',
      AROUND.map((a, i) => ({
        type: 'AnomalyDetected',
        data: { cycle: i + 1, at: a.at, kind: 'task_count_spike', message: `#${i}`, figures: {}, causes: [] },
      })),
    );
    positions = res.globalPositions;
  });
  afterAll(async () => {
    await store?.close();
    await backend?.teardown();
  });

  const upToT = () => positions.filter((_p, i) => AROUND[i].ms <= 0);
  const fromT = () => positions.filter((_p, i) => AROUND[i].ms >= 0);

  test('SQL and JavaScript agree on every form, and recorded_at stands in for a missing or malformed at', async () => {
    const recorded = '2026-01-02T03:04:05.678Z';
    const cases: unknown[] = [
      ...AROUND.map((a) => a.at),
      '2026-11-27T18:25:42.5+01',
      '2026-11-27T18:25:42.123456Z',
      '2026-02-31T00:00:00Z', // rolls over to March 3 in both, and never raises (it is indexed)
      '2026-11-27 18:25:42Z',
      '18:25:42',
      'garbage',
      42,
      null,
    ];
    for (const at of cases) {
      const data = at === undefined ? {} : { at };
      const [row] = await store.db.query<{ t: unknown }>(
        `select ${EVENT_TIME_SQL} as t from (select $1::text::jsonb as data, $2::timestamptz as recorded_at) e`,
        [JSON.stringify(data), recorded],
      );
      const sql = row.t instanceof Date ? row.t : new Date(String(row.t));
      expect({ at, time: sql.toISOString() }).toEqual({
        at,
        time: eventTime(data, new Date(recorded)).toISOString(),
      });
    }
    expect(eventTime({ at: '2026-11-27T19:25:42.000+01:00' }, new Date(0)).toISOString()).toBe(T.toISOString());
    expect(eventTime({ at: '2026-02-31T00:00:00Z' }, new Date(0)).toISOString()).toBe('2026-03-03T00:00:00.000Z');
    expect(eventTime({ at: 'garbage' }, new Date(recorded)).toISOString()).toBe(recorded);
    expect(eventTime({}, new Date(recorded)).toISOString()).toBe(recorded);
  });

  test('events --until/--since, replay --until and explain --at draw the same line at T', async () => {
    const until = await queryEvents(store, { until: T, limit: 100 });
    expect(until.events.map((e) => e.globalPosition)).toEqual(upToT());
    const since = await queryEvents(store, { since: T, limit: 100 });
    expect(since.events.map((e) => e.globalPosition)).toEqual(fromT());

    const into = freshSchema('asof');
    try {
      const res = await rebuildProjections(store, { until: { kind: 'time', time: T }, into });
      expect(res.events).toBe(upToT().length);
      const rows = await store.db.query<{ cycle: number }>(`select cycle from "${into}".anomalies order by cycle`);
      expect(rows.map((r) => Number(r.cycle))).toEqual(upToT().map((p) => positions.indexOf(p) + 1));
    } finally {
      await store.db.exec(`drop schema if exists "${into}" cascade`);
    }

    // explain --at T-30s --window 1m covers [T-60s, T]
    const io = captureIo();
    await runExplain(store, io, { at: new Date(T.getTime() - 30_000).toISOString(), window: '1m', json: true });
    const shown = (JSON.parse(io.out()) as { timeline: { position: number }[] }).timeline.map((l) => l.position);
    expect([...new Set(shown)].sort((a, b) => a - b)).toEqual(upToT());
  });

  test("the control loop's reads (the policy's lookback, the spawn guard, what-if) draw the same line at T", async () => {
    const stream = `loop-${positions[0]}`;
    const observed = await store.append(
      stream,
      AROUND.map((a, i) => ({
        type: 'TaskCountObserved',
        data: { cycle: i + 1, at: a.at, source: 'test', queued: i, active: 0, total: i, responseMs: 1, workers: null },
      })),
    );
    const spawned = await store.append(
      stream,
      AROUND.map((a, i) => ({
        type: 'WorkerSpawned',
        data: { workerId: `w-${i}`, at: a.at, podId: `pod-${i}`, ordinal: 1, of: 1, recovered: false },
      })),
    );
    const upTo = (all: number[]) => all.filter((_p, i) => AROUND[i].ms < 0);
    const from = (all: number[]) => all.filter((_p, i) => AROUND[i].ms >= 0);
    const before = new Date(T.getTime() - 60_000).toISOString();
    const after = new Date(T.getTime() + 60_000).toISOString();
    const iso = T.toISOString();
    // [since, until): T itself (written as 19:25:42+01:00) is in [T, ...), not in [..., T)
    expect((await observationsBetween(store.db, before, iso)).map((r) => r.cycle)).toEqual(
      upTo(observed.globalPositions).map((p) => observed.globalPositions.indexOf(p) + 1),
    );
    expect((await observationsBetween(store.db, iso, after)).map((r) => r.cycle)).toEqual(
      from(observed.globalPositions).map((p) => observed.globalPositions.indexOf(p) + 1),
    );
    expect((await spawnOutcomesBetween(store.db, iso, after)).map((r) => r.at)).toEqual(
      AROUND.filter((a) => a.ms >= 0).map((a) => a.at),
    );
    const decided = await decisionsBetween(store, iso, after);
    expect(decided.filter((e) => e.streamId === stream).map((e) => e.globalPosition)).toEqual(
      from(observed.globalPositions),
    );
    expect(spawned.globalPositions).toHaveLength(AROUND.length);
  });

  test("taskTotalsBefore: each pool's total in the last cycle before its own cycle, in one read; none: null", async () => {
    const observe = (pool: string, totals: number[]) =>
      store.append(
        `controller@${pool}`,
        totals.map((total, i) => ({
          type: 'TaskCountObserved',
          data: {
            cycle: i + 1,
            at: '2026-11-27T18:00:00Z',
            source: 'test',
            queued: total,
            active: 0,
            total,
            responseMs: 1,
            workers: null,
            pool,
          },
        })),
      );
    await observe('tt-a', [10, 20, 30]);
    await observe('tt-b', [5, 6]);
    const totals = await taskTotalsBefore(store, [
      { pool: 'tt-a', cycle: 3 },
      { pool: 'tt-b', cycle: 9 },
      { pool: 'tt-c', cycle: 2 },
    ]);
    expect(Object.fromEntries(totals)).toEqual({ 'tt-a': 20, 'tt-b': 6, 'tt-c': null });
    expect(await taskTotalBefore(store, 1, 'tt-a')).toBeNull();
    expect(await taskTotalBefore(store, 2, 'tt-b')).toBe(5);
    expect(await taskTotalsBefore(store, [])).toEqual(new Map());
  });

  test('the time filters use the event-time index (the index expression is the query expression)', async () => {
    // One connection, so the setting holds for the next statement; a handful of rows would
    // otherwise always be scanned.
    if (backend.name !== 'pglite') return;
    await store.db.exec('set enable_seqscan = off');
    try {
      const plan = await store.db.query<{ 'QUERY PLAN': string }>(
        `explain select * from events where ${EVENT_TIME_SQL} >= '2026-11-27T18:25:42Z'::timestamptz`,
      );
      expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toContain('events_event_time_idx');
    } finally {
      await store.db.exec('set enable_seqscan = on');
    }
  });

  test("the cycle lookups of any pool's controller stream use the stream-cycle index (explain --cycle --pool)", async () => {
    if (backend.name !== 'pglite') return;
    await store.db.exec('set enable_seqscan = off');
    try {
      for (const stream of ['controller', 'controller@video']) {
        for (const where of [
          `${EVENT_CYCLE_SQL} = 5`,
          `${EVENT_CYCLE_SQL} < 5`,
          `${EVENT_CYCLE_SQL} is not null`, // the highest cycle (lastCycle)
        ]) {
          const plan = await store.db.query<{ 'QUERY PLAN': string }>(
            `explain select * from events where stream_id = '${stream}' and ${where}`,
          );
          expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toContain('events_stream_cycle_idx');
        }
      }
    } finally {
      await store.db.exec('set enable_seqscan = on');
    }
  });

  test("the pools' events of one cycle on their other streams are found by the pool-cycle index, not the time index (explain --cycle)", async () => {
    if (backend.name !== 'pglite') return;
    await store.db.exec('set enable_seqscan = off');
    try {
      const values: Record<string, string> = {
        $1: "'2026-11-27T18:25:00Z'",
        $2: "'2026-11-27T18:27:00Z'",
        $3: "'5'",
        $4: "array['default', 'video']",
      };
      const plan = await store.db.query<{ 'QUERY PLAN': string }>(
        `explain select * from events where ${poolCycleEventsSql()}`.replace(/\$\d/g, (p) => values[p]),
      );
      expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toContain('events_pool_cycle_idx');
    } finally {
      await store.db.exec('set enable_seqscan = on');
    }
  });
});
