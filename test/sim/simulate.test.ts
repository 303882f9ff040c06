import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CliIo } from '../../src/cli/context';
import { runSimulate, type SimulateFlags } from '../../src/cli/simulate';
import { seededRandom } from '../../src/clock';
import { loadConfig } from '../../src/config';
import { simulate } from '../../src/sim/simulate';
import { parseTrace } from '../../src/sim/trace';
import { runMain } from '../cli/run-cli';

/** Start-up fixed at 60 s, no failures: every answer below follows by hand from the trace. */
async function run(csv: string, env: Record<string, string> = {}, policy = 'operators') {
  const { result } = await simulate({
    trace: parseTrace(csv),
    config: loadConfig({ POLICY: policy, ...env }),
    seed: 1,
    startup: { minSec: 60, maxSec: 60 },
    failureRate: 0,
    sloSec: 60,
  });
  return result;
}

describe('simulate on hand-made traces (30 s cycle, start-up 60 s, idle timeout 300 s)', () => {
  it('one task: a pod spawned at 0 is up at 60, runs it to 70, and ends 300 s idle later, at the cycle of 390', async () => {
    const r = await run('arrival,duration\n0,10\n');
    expect(r.wait).toMatchObject({ p50: 60, p95: 60, max: 60 });
    expect(r.gpuSeconds).toBe(390);
    expect(r.workBoundSec).toBe(10);
    expect(r.ratio).toBe(39);
    expect([r.spawns, r.terminations, r.peakWorkers]).toEqual([1, 1, 1]);
    expect(r.overSlo).toBe(0);
  });

  it('a burst larger than MAX_ACTIVE_GPUS: two pods take two tasks each, one after the other', async () => {
    const r = await run('arrival,duration\n0,100\n0,100\n0,100\n0,100\n', { MAX_ACTIVE_GPUS: '2' });
    // tasks 1-2 start at 60, tasks 3-4 at 160; both pods idle from 260 and end at the cycle of 570
    expect(r.wait).toMatchObject({ p50: 60, max: 160 });
    expect(r.overSlo).toBe(0.5);
    expect(r.peakWorkers).toBe(2);
    expect(r.gpuSeconds).toBe(2 * 570);
  });

  it('a gap longer than the idle timeout: the first pod ends, a second one is spawned for the late task', async () => {
    const r = await run('arrival,duration\n0,10\n1000,10\n');
    // first: spawn 0, up 60, done 70, ends 390; second: seen at 1020, up 1080, done 1090, ends 1410
    expect(r.wait.max).toBe(80);
    expect([r.spawns, r.terminations]).toEqual([2, 2]);
    expect(r.gpuSeconds).toBe(390 + 390);
  });

  it('runs the default policy', async () => {
    const r = await run('arrival,duration\n0,10\n', {}, 'default');
    expect(r.policy).toBe('default');
    expect(r.wait.max).toBe(60);
  });
});

function captureIo(): CliIo & { out: () => string } {
  let text = '';
  const sink = {
    write: (s: string) => {
      text += s;
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  const none = { write: () => true } as unknown as NodeJS.WritableStream;
  return { stdout: sink, stderr: none, stdin: process.stdin, env: {}, isTTY: false, out: () => text };
}

describe('simulate command', () => {
  let dir: string;
  let trace: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-sim-'));
    trace = path.join(dir, 'trace.csv');
    // a seeded, bursty trace of 400 tasks over 2 hours
    const rnd = seededRandom(7);
    const rows = ['arrival,duration'];
    for (let i = 0, t = 0; i < 400; i++) {
      t += i % 100 < 20 ? rnd() * 2 : rnd() * 30;
      rows.push(`${t.toFixed(1)},${(5 + rnd() * 40).toFixed(1)}`);
    }
    fs.writeFileSync(trace, `${rows.join('\n')}\n`);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const flags = (o: Partial<SimulateFlags>): SimulateFlags => ({
    trace,
    maxBadShare: '0.01',
    seed: '7',
    set: [],
    startupMinSec: '60',
    startupMaxSec: '180',
    failureRate: '0.1',
    sloSec: '60',
    json: true,
    progress: false,
    ...o,
  });

  it('gives byte-identical --json for the same inputs and seed, and another run for another seed', async () => {
    const outs: string[] = [];
    for (const seed of ['7', '7', '8']) {
      const io = captureIo();
      await runSimulate(io, flags({ seed, compare: 'operators,default' }));
      outs.push(io.out());
    }
    expect(outs[1]).toBe(outs[0]);
    expect(outs[2]).not.toBe(outs[0]);
    const parsed = JSON.parse(outs[0]) as { runs: { policy: string; tasks: number; spawnFailures: number }[] };
    expect(parsed.runs.map((r) => [r.policy, r.tasks])).toEqual([
      ['operators', 400],
      ['default', 400],
    ]);
  });

  it('gives the same events (ids included) for the same seed', async () => {
    const once = async () => {
      const { store } = await simulate({
        trace: parseTrace(fs.readFileSync(trace, 'utf8')),
        config: loadConfig({}),
        seed: 3,
        startup: { minSec: 60, maxSec: 180 },
        failureRate: 0.1,
        sloSec: 60,
      });
      return store.all().map((e) => `${e.globalPosition} ${e.eventId} ${e.type} ${JSON.stringify(e.data)}`);
    };
    const [a, b] = [await once(), await once()];
    expect(a.length).toBeGreaterThan(100);
    expect(b).toEqual(a);
  });

  it('refuses an unknown setting and names it', async () => {
    await expect(runSimulate(captureIo(), flags({ set: ['MAX_ACTIVE_GPU=3'] }))).rejects.toThrow(
      '--set MAX_ACTIVE_GPU=3: MAX_ACTIVE_GPU is not a setting (the settings are the keys of the tables in docs/configuration.md)',
    );
  });

  it('keeps the simulated store with --data-dir: events, explain and sql work on it', async () => {
    const dataDir = path.join(dir, 'db');
    const chart = path.join(dir, 'chart.html');
    const sim = await runMain(
      ['simulate', '--trace', trace, '--seed', '7', '--data-dir', dataDir, '--chart', chart, '--json'],
      {},
    );
    expect(sim.code).toBe(0);
    const report = JSON.parse(sim.stdout) as { eventsWritten: number; spawns: number };
    const html = fs.readFileSync(chart, 'utf8');
    expect(html).toContain('uPlot');
    expect(html).toContain('queued tasks');
    const env = { DATABASE_URL: `pglite://${dataDir}` };
    const count = await runMain(['sql', '--json', 'select count(*)::int as n from events'], env);
    expect(JSON.parse(count.stdout)).toEqual([{ n: report.eventsWritten }]);
    const workers = await runMain(
      ['sql', '--json', 'select count(*)::int as n from workers where spawned_at is not null'],
      env,
    );
    expect(JSON.parse(workers.stdout)).toEqual([{ n: report.spawns }]);
    const events = await runMain(['events', '--type', 'ScalingDecided', '--limit', '1', '--json'], env);
    expect(events.code).toBe(0);
    expect(events.stdout).toContain('ScalingDecided');
    const explain = await runMain(['explain', '--cycle', '3', '--utc'], env);
    expect(explain.code).toBe(0);
    expect(explain.stdout).toContain('cycle #3');
  });
});
