import { appRegistry } from '../../events/index';
import type { CliIo } from '../../src/cli/context';
import { runWhatIf } from '../../src/cli/what-if';
import { seededRandom } from '../../src/clock';
import { loadConfig } from '../../src/config';
import { policyMath } from '../../src/policies/render';
import { simulate } from '../../src/sim/simulate';
import { parseTrace } from '../../src/sim/trace';
import { loadEventsInto } from '../../src/store/bulk-load';
import { recordedCycleList, recordedParking, recordedWorkers } from '../../src/what-if/record';
import { whatIf } from '../../src/what-if/replay';
import { pgliteBackend } from '../helpers/backends';
import { Capture } from '../helpers/harness';

/**
 * what-if with nothing changed on a recorded run must give the recorded GPU-hours (within 1%),
 * also when workers take longer than a cycle to start (60-180 s here, 30 s cycles): the fleet
 * model takes each worker's start-up from the record. Its own error is in its output.
 */

/** A 3 h trace from a seed: calm traffic of short tasks with bursts and idle gaps. */
function traceCsv(seed: number): string {
  const random = seededRandom(seed);
  const rows = ['arrival,duration'];
  let t = 0;
  while (t < 3 * 3600) {
    const burst = random() < 0.03;
    const n = burst ? 10 + Math.floor(random() * 20) : 1;
    for (let k = 0; k < n; k++) rows.push(`${t.toFixed(1)},${(5 + random() * 60).toFixed(1)}`);
    t += random() < 0.05 ? 400 + random() * 600 : random() * 40;
  }
  return `${rows.join('\n')}\n`;
}

async function recordRun(seed: number, policy: string, parkedMax = 0) {
  const { result, store } = await simulate({
    trace: parseTrace(traceCsv(seed)),
    config: loadConfig({
      POLICY: policy,
      MAX_ACTIVE_GPUS: '10',
      GPU_IDLE_TIMEOUT_SEC: '300',
      PARKED_MAX: String(parkedMax),
    }),
    seed,
    startup: { minSec: 60, maxSec: 180 },
    failureRate: 0.05,
    sloSec: 60,
  });
  return { result, events: store.all() };
}

const math = (d: Parameters<Parameters<typeof whatIf>[3]>[0]) => policyMath(d.policy, d.desiredBeforeCaps);

describe('what-if with nothing changed reproduces a recorded run', () => {
  it.each([
    [1, 'operators'],
    [2, 'default'],
    [3, 'keda'],
  ])('seed %i, %s: the recorded GPU-hours within 1%%, start-ups longer than a cycle', async (seed, policy) => {
    const { result, events } = await recordRun(seed, policy);
    const cycles = recordedCycleList(events);
    const workers = recordedWorkers(events);
    // the record itself: start-ups of 2-6 cycles, and the GPU-hours simulate billed
    expect(workers.length).toBeGreaterThan(5);
    const r = whatIf(cycles, [], { set: {} }, math, workers);
    expect(r.totals.recorded.gpuHours).toBeCloseTo(result.gpuSeconds / 3600, 0);
    expect(Math.abs(r.totals.whatIf.gpuHours - r.totals.recorded.gpuHours)).toBeLessThanOrEqual(
      0.01 * r.totals.recorded.gpuHours,
    );
    expect(Math.abs(r.model.error)).toBeLessThanOrEqual(0.01);
    expect(r.model.startupSec?.max).toBeGreaterThan(60);
    // the model's own rule for tasks (used where the fleet differs from the record) alone stays close
    expect(Math.abs(r.model.modelOnlyError)).toBeLessThanOrEqual(0.03);
  });

  it.each([
    [1, 'operators'],
    [2, 'default'],
    [5, 'operators'],
  ])(
    'seed %i, %s, PARKED_MAX=5: parks and starts from parked (some refused) reproduced, GPU-hours within 1%%',
    async (seed, policy) => {
      const { result, events } = await recordRun(seed, policy, 5);
      // the record parks, starts parked pods (up in 10-30 s) and has some starts refused
      expect(result.parking.parked).toBeGreaterThan(10);
      expect(result.parking.unparked).toBeGreaterThan(10);
      expect(result.parking.refused).toBeGreaterThan(0);
      const r = whatIf(
        recordedCycleList(events),
        [],
        { set: {} },
        math,
        recordedWorkers(events),
        recordedParking(events),
      );
      expect(r.totals.recorded.gpuHours).toBeCloseTo(result.gpuSeconds / 3600, 0);
      expect(Math.abs(r.totals.whatIf.gpuHours - r.totals.recorded.gpuHours)).toBeLessThanOrEqual(
        0.01 * r.totals.recorded.gpuHours,
      );
      expect(Math.abs(r.model.error)).toBeLessThanOrEqual(0.01);
      expect(Math.abs(r.model.modelOnlyError)).toBeLessThanOrEqual(0.03);
      // PARKED_MAX from the record; the model's parks and starts are the record's
      expect(r.parking).toMatchObject({ max: 5, from: { max: 'record' } });
      expect(r.parking.whatIf).toEqual(r.parking.recorded);
      expect(r.parking.recorded).toEqual({
        parks: result.parking.parked,
        starts: result.parking.unparked,
        refused: result.parking.refused,
      });
      expect(r.model.starts).toMatchObject({ assumed: false, refused: result.parking.refused });
      expect(r.model.starts.startupSec?.max).toBeLessThanOrEqual(30);
    },
  );

  it('--set PARKED_MAX=5 on a run recorded without parking: parks and starts modelled, fewer GPU-hours, said how far to trust it', async () => {
    const { events } = await recordRun(1, 'operators');
    const cycles = recordedCycleList(events);
    const workers = recordedWorkers(events);
    const r = whatIf(cycles, [], { set: { PARKED_MAX: '5' } }, math, workers, recordedParking(events));
    expect(r.parking).toMatchObject({ max: 5, from: { max: 'set' }, recorded: { parks: 0, starts: 0, refused: 0 } });
    expect(r.parking.whatIf.parks).toBeGreaterThan(10);
    expect(r.parking.whatIf.starts).toBeGreaterThan(10);
    // the assumed start share: about one start in ten refused
    expect(r.parking.whatIf.refused).toBe(Math.floor((r.parking.whatIf.starts + r.parking.whatIf.refused) / 10));
    expect(r.model.starts.assumed).toBe(true);
    expect(r.totals.whatIf.gpuHours).toBeLessThan(r.totals.recorded.gpuHours);
    expect(r.model.error).toBe(0);
    expect(() => whatIf(cycles, [], { set: { PARKED_MAX: '-1' } }, math, workers)).toThrow(
      /--set PARKED_MAX=-1 is not allowed/,
    );
  });

  it('the CLI on the recorded store: the totals agree, and the output says how far the model can be trusted', async () => {
    const { events } = await recordRun(4, 'operators');
    const backend = pgliteBackend();
    const store = await backend.open(appRegistry);
    try {
      await loadEventsInto(store, events);
      const first = events[0].data as { at: string };
      const since = new Date(Date.parse(first.at) - 60_000).toISOString();
      const until = new Date(Date.parse(first.at) + 6 * 3600_000).toISOString();
      const run = async (json: boolean, set: string[] = []) => {
        const stdout = new Capture();
        const io: CliIo = { stdout, stderr: new Capture(), stdin: process.stdin, env: {}, isTTY: false };
        await runWhatIf(store, io, { since, until, set, utc: true, now: until, json });
        return stdout.text;
      };
      const j = JSON.parse(await run(true, ['GPU_IDLE_TIMEOUT_SEC=300']));
      expect(j.differing).toEqual([]);
      expect(j.totals.whatIf.gpuHours).toBe(j.totals.recorded.gpuHours);
      expect(j.model).toMatchObject({ error: 0, unchangedDiffering: 0 });
      const text = await run(false, ['GPU_IDLE_TIMEOUT_SEC=600']);
      expect(text).toMatch(
        /fleet model: with nothing changed it gives (\d+\.\d\d) GPU-hours against the recorded \1 \(0\.0%; 0 cycles decide otherwise\); start-ups taken from the record's \d+ spawns \(median \d+ s, max \d+ s\)/,
      );
      expect(text).toContain('read a saving as an upper bound');
      expect(text).not.toContain('Parking:');
      const parked = await run(false, ['PARKED_MAX=5']);
      expect(parked).toMatch(
        /Parking: PARKED_MAX=5 \(set\), PARKED_MAX_AGE_SEC=43200 \(default\); \d+ parks, \d+ starts from parked, \d+ refused \(recorded: 0, 0, 0\); no start from parked recorded in the window: starts assumed to succeed 90% of the time and take 10-30 s/,
      );
      expect(parked).toContain('a change of parking is not estimated well');
      expect(parked).not.toContain('upper bound');
    } finally {
      await store.close();
      await backend.teardown();
    }
  });

  it('the CLI on a recorded parking run: reads the parks and starts from the store, and reproduces it', async () => {
    const { result, events } = await recordRun(1, 'operators', 5);
    const backend = pgliteBackend();
    const store = await backend.open(appRegistry);
    try {
      await loadEventsInto(store, events);
      const first = events[0].data as { at: string };
      const since = new Date(Date.parse(first.at) - 60_000).toISOString();
      const until = new Date(Date.parse(first.at) + 6 * 3600_000).toISOString();
      const stdout = new Capture();
      const io: CliIo = { stdout, stderr: new Capture(), stdin: process.stdin, env: {}, isTTY: false };
      await runWhatIf(store, io, { since, until, set: [], utc: true, now: until, json: true });
      const j = JSON.parse(stdout.text);
      expect(j.model).toMatchObject({ error: 0, unchangedDiffering: 0 });
      expect(j.parking).toMatchObject({
        max: 5,
        from: { max: 'record' },
        recorded: { parks: result.parking.parked, starts: result.parking.unparked, refused: result.parking.refused },
      });
      expect(j.parking.whatIf).toEqual(j.parking.recorded);
    } finally {
      await store.close();
      await backend.teardown();
    }
  });
});
