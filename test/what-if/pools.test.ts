import { appRegistry, Streams } from '../../events/index';
import { CliError, type CliIo } from '../../src/cli/context';
import { runWhatIf } from '../../src/cli/what-if';
import { seededRandom } from '../../src/clock';
import { loadConfig } from '../../src/config';
import { simulate } from '../../src/sim/simulate';
import { parseTrace } from '../../src/sim/trace';
import { loadEventsInto } from '../../src/store/bulk-load';
import type { EventStore, StoredEvent } from '../../src/store/event-store';
import { eventTime } from '../../src/store/event-time';
import { recordedCycleList } from '../../src/what-if/record';
import { pgliteBackend, postgresBackend, TEST_DATABASE_URL, type TestBackend } from '../helpers/backends';
import { Capture } from '../helpers/harness';

/**
 * what-if --pool replays one pool's record: on a store that holds two pools' runs at the same
 * time, what-if with nothing changed reproduces each pool's own record (the other's decisions,
 * counts and workers do not leak in); without --pool, every pool apart.
 */

/** A 2 h trace from a seed: short tasks with bursts and idle gaps. */
function traceCsv(seed: number): string {
  const random = seededRandom(seed);
  const rows = ['arrival,duration'];
  let t = 0;
  while (t < 2 * 3600) {
    const n = random() < 0.04 ? 8 + Math.floor(random() * 15) : 1;
    for (let k = 0; k < n; k++) rows.push(`${t.toFixed(1)},${(5 + random() * 60).toFixed(1)}`);
    t += random() < 0.05 ? 400 + random() * 600 : random() * 40;
  }
  return `${rows.join('\n')}\n`;
}

async function recordRun(seed: number, policy: string) {
  const { result, store } = await simulate({
    trace: parseTrace(traceCsv(seed)),
    config: loadConfig({ POLICY: policy, MAX_ACTIVE_GPUS: '10', GPU_IDLE_TIMEOUT_SEC: '300' }),
    seed,
    startup: { minSec: 60, maxSec: 180 },
    failureRate: 0.05,
    sloSec: 60,
  });
  return { result, events: store.all() };
}

const POOL_STREAMS = ['controller', 'health', 'reconciliation', 'shadow', 'shadow-fleet'];

/** A run recorded by pool default, as pool `pool` records it: its streams and every event's pool. */
function asPool(events: readonly StoredEvent[], pool: string): StoredEvent[] {
  return events.map((e) => inPool(e, pool));
}

/** One event in `pool` (its stream and its data's pool; nothing else changes). */
const inPool = <E extends { streamId: string; data: object }>(e: E, pool: string): E => ({
  ...e,
  streamId: POOL_STREAMS.includes(e.streamId) ? `${e.streamId}@${pool}` : e.streamId,
  data: { ...e.data, pool },
});

/** Two runs as one store records them: merged by event time, each run's own order kept. */
function interleave(a: readonly StoredEvent[], b: readonly StoredEvent[]): StoredEvent[] {
  const out: StoredEvent[] = [];
  let i = 0;
  let j = 0;
  const time = (e: StoredEvent) => eventTime(e.data, e.recordedAt).getTime();
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && time(a[i]) <= time(b[j]))) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}

const backends: [string, () => TestBackend][] = [['pglite', pgliteBackend]];
if (TEST_DATABASE_URL) backends.push(['postgres', postgresBackend]);

describe.each(backends)('what-if --pool on a store of two pools [%s]', (_name, makeBackend) => {
  let backend: TestBackend;
  let store: EventStore;
  let video: Awaited<ReturnType<typeof recordRun>>;
  let dflt: Awaited<ReturnType<typeof recordRun>>;
  let since: string;
  let until: string;

  beforeAll(async () => {
    dflt = await recordRun(4, 'operators');
    video = await recordRun(2, 'default');
    backend = makeBackend();
    store = await backend.open(appRegistry);
    await loadEventsInto(store, interleave(dflt.events, asPool(video.events, 'video')));
    const first = dflt.events[0].data as { at: string };
    since = new Date(Date.parse(first.at) - 60_000).toISOString();
    until = new Date(Date.parse(first.at) + 6 * 3600_000).toISOString();
  }, 120_000);
  afterAll(async () => {
    await store?.close();
    await backend?.teardown();
  });

  const run = async (args: { pool?: string[]; set?: string[]; json?: boolean }) => {
    const stdout = new Capture();
    const io: CliIo = { stdout, stderr: new Capture(), stdin: process.stdin, env: {}, isTTY: false };
    await runWhatIf(store, io, { since, until, set: args.set ?? [], utc: true, now: until, ...args });
    return stdout.text;
  };

  test("--pool video with nothing changed reproduces pool video's record, not default's", async () => {
    expect(Streams.controller('video')).toBe('controller@video');
    const j = JSON.parse(await run({ pool: ['video'], json: true }));
    expect(j.pools).toBeUndefined();
    expect(j.cycles).toBe(recordedCycleList(video.events).length);
    expect(j.policy).toBe('default');
    expect(j.differing).toEqual([]);
    expect(j.model).toMatchObject({ error: 0, unchangedDiffering: 0 });
    expect(j.totals.whatIf.gpuHours).toBe(j.totals.recorded.gpuHours);
    expect(j.totals.recorded.gpuHours).toBeCloseTo(video.result.gpuSeconds / 3600, 0);
    const text = await run({ pool: ['video'] });
    expect(text).toMatch(/^what-if \(pool video\): policy default, \d+ recorded cycles from .*: 0 differ/);
  });

  test('without --pool: each pool that decided in the window, apart; a change moves only what it changes', async () => {
    const j = JSON.parse(await run({ json: true, set: ['MAX_WORKERS=2'] }));
    expect(j.pools.map((p: { pool: string }) => p.pool)).toEqual(['default', 'video']);
    expect(j.pools[0].cycles).toBe(recordedCycleList(dflt.events).length);
    expect(j.pools[1].cycles).toBe(recordedCycleList(video.events).length);
    for (const p of j.pools) {
      expect(p.model).toMatchObject({ error: 0, unchangedDiffering: 0 });
      expect(p.differing.length).toBeGreaterThan(0);
    }
    const text = await run({});
    const headings = text.split('\n').filter((l) => l.startsWith('== pool '));
    expect(headings).toEqual(['== pool default ==', '== pool video ==']);
  });

  test('a pool that did not decide in the window: an error naming those that did', async () => {
    await expect(run({ pool: ['audio'] })).rejects.toThrow(CliError);
    await expect(run({ pool: ['audio'] })).rejects.toThrow(
      /no recorded decision of pool audio between .*: nothing to replay; the pools that decided in it are default, video/,
    );
  });
});
