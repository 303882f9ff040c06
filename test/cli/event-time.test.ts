import { appRegistry } from '../../events/index';
import type { EventStore } from '../../src/store/event-store';
import { openStore } from '../../src/store/index';
import type { StoreTarget } from '../../src/store/open';
import { runOnStore } from './run-cli';

/**
 * The three commands that ask "when did this event happen" (events --since/--until, replay
 * --until, explain --at) run as the CLI runs them, on events placed on both sides of one moment,
 * with `at` in forms whose text order differs from their time order. All three draw the line at
 * the same place: event_time (src/store/event-time.ts).
 */

const T = '2026-11-27T18:25:42.000Z';

/** `at` values around T; `side`: before, at or after T. */
const AROUND: { at: string; side: -1 | 0 | 1 }[] = [
  { at: '2026-11-27T18:25:41.999Z', side: -1 },
  { at: '2026-11-27T19:25:41.500+01:00', side: -1 }, // before T, later than T as text
  { at: '2026-11-27T19:25:42.000+01:00', side: 0 }, // T itself, with an offset
  { at: '2026-11-27T13:25:42.001-05:00', side: 1 }, // after T, earlier than T as text
  { at: '2026-11-27T18:25:43Z', side: 1 },
];

describe('one event time across the CLI', () => {
  let store: EventStore;
  const target: StoreTarget = { kind: 'memory' };
  let positions: number[];

  beforeAll(async () => {
    store = await openStore({ target: 'memory://', registry: appRegistry, listen: false });
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
  });

  const where = (keep: (side: number) => boolean) => positions.filter((_p, i) => keep(AROUND[i].side));
  const json = async (args: string[]) => {
    const r = await runOnStore(store, target, args);
    expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: expect.any(String) });
    return JSON.parse(r.stdout);
  };

  test('events --until T and --since T split the events at T, T itself on both sides', async () => {
    const until = (await json(['events', '--until', T, '--json'])) as { globalPosition: number }[];
    expect(until.map((e) => e.globalPosition)).toEqual(where((s) => s <= 0));
    const since = (await json(['events', '--since', T, '--json'])) as { globalPosition: number }[];
    expect(since.map((e) => e.globalPosition)).toEqual(where((s) => s >= 0));
    // the same moment written with an offset, and as a time of day read against --now in UTC
    const offset = (await json(['events', '--until', '2026-11-27T19:25:42+01:00', '--json'])) as {
      globalPosition: number;
    }[];
    expect(offset.map((e) => e.globalPosition)).toEqual(where((s) => s <= 0));
    const tod = (await json(['events', '--until', '18:25:42', '--utc', '--now', '2026-11-27T20:00:00Z', '--json'])) as {
      globalPosition: number;
    }[];
    expect(tod.map((e) => e.globalPosition)).toEqual(where((s) => s <= 0));
  });

  test('replay --until T folds exactly the events events --until T shows', async () => {
    const r = (await json(['replay', '--until', T, '--projection', 'anomalies', '--json'])) as {
      events: number;
      schema: string;
      lastPosition: number;
    };
    const upTo = where((s) => s <= 0);
    expect({ events: r.events, lastPosition: r.lastPosition }).toEqual({
      events: upTo.length,
      lastPosition: Math.max(...upTo),
    });
    const rows = await store.db.query<{ cycle: number }>(`select cycle from "${r.schema}".anomalies order by cycle`);
    expect(rows.map((x) => Number(x.cycle))).toEqual(upTo.map((p) => positions.indexOf(p) + 1));
    await store.db.exec(`drop schema "${r.schema}" cascade`);
  });

  test('explain --at ends its window at T where the others do', async () => {
    // --at T-30s with --window 1m covers [T-60s, T]
    const before = (await json(['explain', '--at', '2026-11-27T18:25:12Z', '--window', '1m', '--json'])) as {
      timeline: { position: number }[];
    };
    expect([...new Set(before.timeline.map((l) => l.position))].sort((a, b) => a - b)).toEqual(where((s) => s <= 0));
    // --at T+30s covers [T, T+60s]
    const after = (await json([
      'explain',
      '--at',
      '18:26:12',
      '--utc',
      '--now',
      '2026-11-27T20:00:00Z',
      '--window',
      '1m',
      '--json',
    ])) as {
      timeline: { position: number }[];
    };
    expect([...new Set(after.timeline.map((l) => l.position))].sort((a, b) => a - b)).toEqual(where((s) => s >= 0));
  });
});
