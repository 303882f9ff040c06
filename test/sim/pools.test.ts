import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type CliIo, EXIT } from '../../src/cli/context';
import { runSimulate, type SimulateFlags } from '../../src/cli/simulate';
import { seededRandom } from '../../src/clock';
import { heldBackBy, heldBackSpawns, type PoolsSimResult, refusedByGlobalCap } from '../../src/sim/pools';
import { parseTrace, TraceError } from '../../src/sim/trace';
import { Capture } from '../helpers/harness';

/**
 * simulate with pools: a configuration file's pools and a trace with a pool column, one System per
 * pool on one store and one clock, a report per pool and in total.
 */

describe('a trace with a pool column', () => {
  it('gives each task its pool (a column named pool, or --pool-column); without one, none (pool default)', () => {
    const t = parseTrace('arrival,duration,pool\n0,10,video\n5,20,image\n');
    expect(t.tasks).toEqual([
      { arrival: 0, run: 10, pool: 'video' },
      { arrival: 5, run: 20, pool: 'image' },
    ]);
    const named = parseTrace('arrival,duration,model\n0,10,video\n', { poolColumn: 'model' });
    expect(named.tasks).toEqual([{ arrival: 0, run: 10, pool: 'video' }]);
    expect(parseTrace('arrival,duration\n0,10\n').tasks).toEqual([{ arrival: 0, run: 10 }]);
  });

  it('a pool that is no pool name is a bad row saying what is allowed; a --pool-column the trace lacks, an error naming its columns', () => {
    const t = parseTrace('arrival,duration,pool\n0,10,video\n1,10,Video_1\n', { maxBadShare: 1 });
    expect(t.bad).toEqual([
      { line: 3, reason: `pool "Video_1" is not a pool name (1 to 40 lowercase letters, digits and '-')` },
    ]);
    expect(() => parseTrace('arrival,duration\n0,10\n', { poolColumn: 'model' })).toThrow(TraceError);
    expect(() => parseTrace('arrival,duration\n0,10\n', { poolColumn: 'model' })).toThrow(
      '--pool-column model: the trace has no column "model"; its columns are arrival, duration',
    );
  });
});

describe('spawns held back by a global cap', () => {
  const decided = (pool: string, current: number, want: number, got: number, limited: boolean) => ({
    pool,
    current: { total: current },
    allocation: {
      caps: { gpus: 8 },
      shares: [
        {
          pool,
          priority: 0,
          wantWorkers: want,
          floorWorkers: 0,
          gotWorkers: got,
          gpusPerWorker: 1,
          limitedBy: limited ? ('GLOBAL_MAX_ACTIVE_GPUS' as const) : null,
        },
      ],
    },
  });

  it('a decision counts the workers a global cap kept it from adding; a refusal by the global budget counts one', () => {
    expect(heldBackBy(decided('image', 1, 6, 2, true))).toBe(4); // wanted 5 more, got 1 more
    expect(heldBackBy(decided('image', 2, 6, 2, true))).toBe(4); // wanted 4 more, got none
    expect(heldBackBy(decided('image', 5, 6, 6, false))).toBe(0); // got all it wanted
    expect(heldBackBy(decided('image', 6, 4, 3, true))).toBe(0); // a scale-down: nothing was to be spawned
    expect(heldBackBy({ ...decided('image', 1, 6, 2, true), pool: 'video' })).toBe(0); // not its share
    expect(heldBackBy({ pool: 'image', current: { total: 0 }, allocation: null })).toBe(0); // no global cap
    expect(refusedByGlobalCap('refused by the global budget: ... > GLOBAL_MAX_ACTIVE_GPUS=8')).toBe(true);
    expect(refusedByGlobalCap('refused by the GPU budget: ... > MAX_ACTIVE_GPUS=4')).toBe(false);
    expect(heldBackSpawns([], 'image')).toBe(0);
  });
});

describe('simulate --config with pools', () => {
  let dir: string;
  let trace: string;
  let plain: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-sim-pools-'));
    trace = path.join(dir, 'trace.csv');
    plain = path.join(dir, 'plain.csv');
    // both pools want more than the global cap at once: bursts of long tasks, then quiet
    const rnd = seededRandom(11);
    const rows = ['arrival,duration,model'];
    const plainRows = ['arrival,duration'];
    for (let i = 0; i < 150; i++) {
      const t = (i % 50 < 25 ? i * 2 : i * 20).toFixed(1);
      rows.push(`${t},${(60 + rnd() * 120).toFixed(1)},video`);
      rows.push(`${t},${(60 + rnd() * 120).toFixed(1)},image`);
      plainRows.push(`${t},${(60 + rnd() * 120).toFixed(1)}`);
    }
    fs.writeFileSync(trace, `${rows.join('\n')}\n`);
    fs.writeFileSync(plain, `${plainRows.join('\n')}\n`);
    fs.writeFileSync(
      path.join(dir, 'pools.yaml'),
      [
        'GLOBAL_MAX_ACTIVE_GPUS: 8',
        'SIM_GPU_HOURLY_USD: 2',
        'MAX_ACTIVE_GPUS: 8',
        'GPU_IDLE_TIMEOUT_SEC: 120',
        'pools:',
        '  video:',
        '    PRIORITY: 10',
        '    POLICY: operators',
        '  image:',
        '    POLICY: default',
        '    SIM_GPU_HOURLY_USD: 1',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(path.join(dir, 'one.yaml'), 'MAX_ACTIVE_GPUS: 3\n');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const flags = (o: Partial<SimulateFlags>): SimulateFlags => ({
    trace,
    maxBadShare: '0.01',
    seed: '3',
    set: [],
    startupMinSec: '60',
    startupMaxSec: '120',
    failureRate: '0',
    sloSec: '60',
    json: true,
    progress: false,
    poolColumn: 'model',
    ...o,
  });
  const run = async (f: Partial<SimulateFlags>, config: string | null) => {
    const stdout = new Capture();
    const stderr = new Capture();
    const env = config ? { GPU_SCALER_CONFIG: path.join(dir, config) } : {};
    const io: CliIo = { stdout, stderr, stdin: process.stdin, env, isTTY: false };
    const code = await runSimulate(io, flags(f));
    return { code, stdout: stdout.text, stderr: stderr.text };
  };

  it('a pool column naming pools without a configuration is bad usage naming them; a pool the file lacks too', async () => {
    await expect(run({}, null)).rejects.toThrow(
      /its pool column names video, image: give their settings with --config FILE/,
    );
    await expect(run({}, 'one.yaml')).rejects.toThrow(
      /the trace's pool column names pools video, image, which the configuration does not have: its pools are default/,
    );
    await expect(run({ trace: plain, poolColumn: undefined }, 'pools.yaml')).rejects.toThrow(
      /the trace has no pool column \(name it with --pool-column\), so its tasks are pool default's, which the configuration does not have: its pools are video, image/,
    );
  });

  it("a file of one pool and a trace without a pool column: one run with the file's settings, as before pools", async () => {
    const r = await run({ trace: plain, poolColumn: undefined, policy: 'operators' }, 'one.yaml');
    expect(r.code).toBe(EXIT.ok);
    const j = JSON.parse(r.stdout) as { peakWorkers: number; tasks: number; policy: string };
    expect(j.tasks).toBe(150);
    expect(j.policy).toBe('operators');
    expect(j.peakWorkers).toBe(3);
  });

  it('two pools under GLOBAL_MAX_ACTIVE_GPUS=8: a line per pool and the total, the same for the same seed', async () => {
    const r = await run({}, 'pools.yaml');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(EXIT.ok);
    const j = JSON.parse(r.stdout) as PoolsSimResult & { trace: string };
    expect(j.caps).toEqual({ gpus: 8 });
    expect(j.pools.map((p) => [p.pool, p.policy, p.priority, p.tasks])).toEqual([
      ['video', 'operators', 10, 150],
      ['image', 'default', 0, 150],
    ]);
    // the total is the pools' sum; cost at each pool's price
    expect(j.total.tasks).toBe(300);
    expect(j.total.gpuHours).toBeCloseTo(j.pools[0].gpuHours + j.pools[1].gpuHours, 2);
    expect(j.pools[0].costUsd).toBeCloseTo(j.pools[0].gpuHours * 2, 1);
    expect(j.pools[1].costUsd).toBeCloseTo(j.pools[1].gpuHours * 1, 1);
    expect(j.total.spawns).toBe(j.pools[0].spawns + j.pools[1].spawns);
    // the cap held spawns back (the pools want 16 GPUs at once)
    expect(j.total.heldBack).toBe(j.pools[0].heldBack + j.pools[1].heldBack);
    expect(j.pools[1].heldBack).toBeGreaterThan(0);
    expect(j.pools[0].peakWorkers + j.pools[1].peakWorkers).toBeGreaterThanOrEqual(8);
    // same inputs and seed: the same run
    expect((await run({}, 'pools.yaml')).stdout).toBe(r.stdout);

    const text = await run({ json: false }, 'pools.yaml');
    expect(text.stdout).toContain('2 pools');
    expect(text.stdout).toContain('GLOBAL_MAX_ACTIVE_GPUS=8');
    expect(text.stdout.split('\n').filter((l) => /^(video|image|total) /.test(l))).toHaveLength(3);
  });
});
