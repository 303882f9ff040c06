import { Readable } from 'node:stream';
import { runDemo } from '../../src/cli/demo';
import { Capture } from '../helpers/harness';
import { waitFor } from '../helpers/wait';

const io = (stdout: Capture) => ({
  stdout,
  stderr: new Capture(),
  stdin: Readable.from([]),
  env: {},
  isTTY: false,
});

describe('gpu-scaler demo: the story by default', () => {
  test('each scenario: its question, what happened from the record, explain; no service log', async () => {
    const stdout = new Capture();
    expect(await runDemo(io(stdout), {})).toBe(0);
    const text = stdout.text;
    // the service's own lines are not printed (1,985 lines came before the story)
    expect(text.split('Why did it scale up')[0]).not.toContain('SCALING UP: Creating');
    expect(text.split('\n').length).toBeLessThan(200);
    const scenarios = text.split(/\nScenario \d: /).slice(1);
    expect(scenarios.map((s) => s.split('\n')[0])).toEqual([
      'Normal operation',
      'Legitimate scale-up',
      'Spurious scale-up',
      'Database logging failure',
      'Parked pods',
    ]);
    for (const s of scenarios) {
      expect(s).toMatch(/\n {2}What .*\?\n/);
      expect(s).toContain('What happened:');
      expect(s).toMatch(/gpu-scaler explain --cycle \d+:\n {2}At .* \(cycle #\d+\)/);
    }
    // scenario 1: the header no longer says MAINTAIN for a run whose first cycle scales up
    expect(scenarios[0]).not.toMatch(/Scenario.*MAINTAIN/);
    expect(scenarios[0]).toMatch(
      /cycle #1: 2 tasks, 0 workers: SCALE_UP by 2\n {2}cycle #2-#4: 2 tasks, 2 workers: MAINTAIN\n/,
    );
    expect(scenarios[2]).toMatch(
      /cycle #\d+: 51 tasks, 0 workers: SCALE_UP by 4 \(wanted 51, capped to 4 by MAX_WORKERS,MAX_ACTIVE_GPUS\)/,
    );
    expect(scenarios[2]).toContain('rapid_scale_up');
    expect(scenarios[3]).toMatch(/health checks: #\d+ database logging FAILING/);
    // scenario 5: the burst's idle pods are parked, the next burst starts them instead of cold pods
    const parked = scenarios[4];
    expect(parked).toMatch(/cycle #\d+: 0 tasks, 3 workers: SCALE_DOWN by 3\n/);
    expect(parked).toMatch(/cycle #\d+: 3 tasks, 0 workers: SCALE_UP by 3\n/);
    expect(parked).toMatch(
      /parked: 3 pods; 0 of 3 starts of parked pods refused \(0%\); start to ready: unparked median 30 s, p95 30 s \(3\), cold median 2 min, p95 2 min \(2\)/,
    );
    const conclusion = parked.split(/gpu-scaler explain --cycle \d+:\n/)[1];
    expect(conclusion.match(/from the parked pool \(worker [^,]+, parked 2 min before\)/g)).toHaveLength(3);
    expect(conclusion).toContain('Spawns: 3 of 3 succeeded');
  }, 200_000);

  test('--log prints the full service log along the story', async () => {
    const stdout = new Capture();
    expect(await runDemo(io(stdout), { log: true })).toBe(0);
    expect(stdout.text).toContain(
      '🚀 SCALING UP: Creating 4 new workers (desired 51 capped to 4 by MAX_WORKERS=10, then MAX_ACTIVE_GPUS=4)',
    );
    expect(stdout.text).toContain('What happened:');
  }, 200_000);
});

describe('gpu-scaler demo --serve', () => {
  test('keeps the dashboard of the tour up until stopped', async () => {
    const stdout = new Capture();
    const stop = new AbortController();
    let url: string | null = null;
    const run = runDemo(
      { stdout, stderr: new Capture(), stdin: Readable.from([]), env: {}, isTTY: false },
      { quiet: true, serve: true, port: '0', stop: stop.signal, onServing: (u) => (url = u) },
    );
    try {
      const base = await waitFor(() => url, 'the dashboard to listen', 170_000);
      const state = (await (await fetch(`${base}api/state?window=1h`)).json()) as {
        decisions: { decision: string }[];
        series: { t: number[] };
      };
      expect(state.decisions.length).toBeGreaterThan(0);
      expect(state.series.t.length).toBeGreaterThan(0);
      expect((await fetch(base)).status).toBe(200);
      expect(stdout.text).toContain(`The dashboard of this run: ${base}`);
    } finally {
      stop.abort();
    }
    expect(await run).toBe(0);
  }, 200_000);
});
