import { Readable } from 'node:stream';
import { runStatus } from '../../src/cli/status';
import { conclude, explain } from '../../src/explain/explain';
import { Metrics } from '../../src/observe/metrics';
import { RunpodProvider } from '../../src/providers/runpod/index';
import { FakeRunpodApi } from '../fakes/runpod-api';
import { pgliteBackend } from '../helpers/backends';
import { Capture, harness } from '../helpers/harness';

const KEY = 'rp_parking_done_when_0123456789';
const backend = pgliteBackend();
beforeAll(() => backend.ready?.(), 120_000);
afterAll(() => backend.teardown());

let api: FakeRunpodApi;
let h: Awaited<ReturnType<typeof harness>> | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  await api?.stop();
});

test('PARKED_MAX=5 on RunPod: a burst then quiet parks pods; the next burst starts them, cold-creates for a refused start, never over a cap; explain says which came from the parked pool and how long each took', async () => {
  api = await FakeRunpodApi.start({ apiKey: KEY, stepOnGet: true, podCost: 0.5 });
  const env = {
    PROVIDER: 'runpod',
    RUNPOD_API_KEY: KEY,
    RUNPOD_IMAGE_NAME: 'ghcr.io/acme/worker:1',
    RUNPOD_GPU_TYPE_IDS: 'NVIDIA GeForce RTX 4090',
    GPU_IDLE_TIMEOUT_SEC: '60',
    PARKED_MAX: '5',
    PARKED_HOURLY_USD: '0.02',
    MAX_ACTIVE_GPUS: '6',
    MAX_WORKERS: '10',
  };
  h = await harness(backend, {
    env: { ...env, RUNPOD_API_URL: 'http://127.0.0.1:9/v2' },
    start: '2026-12-06T02:00:00.000Z',
  });
  const provider = new RunpodProvider({
    apiKey: KEY,
    baseUrl: api.v2,
    gpuTypeIds: ['NVIDIA GeForce RTX 4090'],
    image: 'ghcr.io/acme/worker:1',
    clock: h.clock,
    random: () => 0,
  });
  const sys = await h.restart({ provider, env });
  const cycle = async () => {
    await sys.step();
    h?.clock.advance(30_000);
    expect(api.runningPods().length).toBeLessThanOrEqual(6);
  };
  // burst: 4 workers, up after a few list calls
  h.source.set(4);
  for (let i = 0; i < 4; i++) await cycle();
  expect(api.runningPods().length).toBe(4);
  // quiet: all four are parked, not deleted
  h.source.set(0);
  for (let i = 0; i < 6; i++) await cycle();
  expect((await h.events('WorkerParked')).length).toBe(4);
  expect(api.deleted).toEqual([]);
  expect(api.livePods().map((p) => p.status)).toEqual(['EXITED', 'EXITED', 'EXITED', 'EXITED']);
  const stops = api.requestsTo('action').map((r) => r.body);
  expect(stops).toEqual([{ action: 'stop' }, { action: 'stop' }, { action: 'stop' }, { action: 'stop' }]);

  // status: the parked pool and its disk cost, apart from the burn rate
  const status = async () => {
    const out = new Capture();
    await runStatus(
      h?.store as NonNullable<typeof h>['store'],
      { kind: 'memory' },
      { json: false, utc: true, now: h?.clock.now(), windowMs: 3_600_000, windowText: '1h' },
      { stdout: out, stderr: new Capture(), stdin: Readable.from([]), env: {}, isTTY: false },
    );
    return out.text;
  };
  let text = await status();
  expect(text).toContain('Burn rate: 0 GPUs, burning 0.00 USD/h');
  expect(text).toMatch(/Parked: 4 pods \(oldest \d+ (s|min)\), disk 0\.08 USD\/h; no GPU, in no cap/);

  // the next burst: 6 wanted (the cap); one start refused by its host
  const created = api.requestsTo('create').length;
  api.refuseStarts('*', 1);
  h.source.set(6);
  const burst = (await sys.step()).kind === 'decided' ? (await h.events('ScalingDecided')).pop() : undefined;
  h.clock.advance(30_000);
  expect(burst?.data).toMatchObject({ decision: 'SCALE_UP', delta: 6 });
  const unparked = await h.events('WorkerUnparked');
  const refused = await h.events('WorkerUnparkRefused');
  expect(unparked.length).toBe(3);
  expect(refused.length).toBe(1);
  expect(refused[0].data.error).toContain('not enough free GPUs on the host machine');
  // the refused pod was deleted, its slot and the two beyond the parked pool cold-created
  expect(api.deleted).toEqual([refused[0].data.podId]);
  expect(api.requestsTo('create').length).toBe(created + 3);
  for (let i = 0; i < 4; i++) await cycle();
  expect(api.runningPods().length).toBe(6);
  expect(api.peakRunning).toBeLessThanOrEqual(6);

  text = await status();
  expect(text).toMatch(
    /Starts \(last 1h\): 1 of 4 starts of parked pods refused \(25%\); start to ready: unparked median \d+ s, p95 \d+ s \(3\), cold median \d+ s, p95 \d+ s \(7\)/,
  );
  expect(text).toContain('Parked: 0 pods');
  // the metrics count the same facts from the events
  const metrics = new Metrics();
  metrics.observeEvents(await h.events());
  const m = await metrics.text();
  expect(m).toContain('gpu_scaler_parked_total{pool="default"} 4');
  expect(m).toContain('gpu_scaler_unparked_total{pool="default"} 3');
  expect(m).toContain('gpu_scaler_unpark_refused_total{pool="default"} 1');
  expect(m).toContain('gpu_scaler_start_to_ready_seconds_count{pool="default",origin="unparked"} 3');
  expect(m).toContain('gpu_scaler_start_to_ready_seconds_count{pool="default",origin="cold"} 7');

  const ex = explain(await h.events(), { focusCycle: burst?.data.cycle });
  text = conclude(ex.cycles.find((c) => c.cycle === burst?.data.cycle) as (typeof ex.cycles)[number]);
  for (const u of unparked)
    expect(text).toMatch(
      new RegExp(
        `pod ${u.data.podId} from the parked pool \\(worker ${u.data.workerId}, parked \\d+ (s|min) before\\), ready in \\d+ s`,
      ),
    );
  expect(text).toMatch(/pod \S+ new, ready in \d+ s/);
  expect(text).toContain(
    `Starts of parked pods refused (each slot then created a new pod): ${refused[0].data.ordinal}/6 worker ${refused[0].data.workerId}: capacity:`,
  );
  const timeline = ex.timeline.map((l) => l.text).join('\n');
  expect(timeline).toContain(
    `♻️ Worker ${unparked[0].data.ordinal}/6 from the parked pool (worker ${unparked[0].data.workerId}`,
  );
  expect(timeline).toMatch(/🅿️ Worker \S+ parked \(pod \S+ stopped, disk kept at 0\.020 USD\/h\)/);
});
