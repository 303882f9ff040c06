import { CliError, type CliIo } from '../../src/cli/context';
import { runWhatIf, type WhatIfOptions } from '../../src/cli/what-if';
import { pgliteBackend, type TestBackend } from '../helpers/backends';
import { Capture, type Harness, harness, type ScriptedSource } from '../helpers/harness';

const START = '2026-11-27T18:00:00.000Z';

describe('gpu-scaler what-if on a recorded store', () => {
  let backend: TestBackend;
  let h: Harness & { source: ScriptedSource };

  beforeAll(async () => {
    backend = pgliteBackend();
    h = await harness(backend, { start: START, env: { GPU_IDLE_TIMEOUT_SEC: '60', MAX_WORKERS: '10' } });
    // 2 cycles idle, 3 with 5 tasks queued, then 6 idle again: a scale-up and, later, a scale-down
    for (const n of [0, 0, 5, 5, 5, 0, 0, 0, 0, 0, 0]) {
      h.source.set(n);
      await h.cycle();
    }
  });
  afterAll(async () => {
    await h.close();
    await backend.teardown();
  });

  async function whatIf(o: Partial<WhatIfOptions>): Promise<{ code: number; out: string }> {
    const stdout = new Capture();
    const io: CliIo = { stdout, stderr: new Capture(), stdin: process.stdin, env: {}, isTTY: false };
    const code = await runWhatIf(h.store, io, {
      since: START,
      until: '2026-11-27T19:00:00Z',
      set: [],
      utc: true,
      now: '2026-11-27T19:00:00Z',
      ...o,
    });
    return { code, out: stdout.text };
  }

  test('with the recorded settings nothing differs: the model reproduces the record', async () => {
    const r = await whatIf({});
    expect(r.code).toBe(0);
    expect(r.out).toContain('11 recorded cycles from 2026-11-27T18:00:00.000Z to 2026-11-27T19:00:00.000Z: 0 differ');
    expect(r.out).toContain('No cycle differs.');
  });

  test('MAX_WORKERS=2: the differing cycles, recorded next to what-if, and the totals', async () => {
    const r = await whatIf({ set: ['MAX_WORKERS=2'] });
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe(
      'what-if: policy operators with MAX_WORKERS=2, 11 recorded cycles from 2026-11-27T18:00:00.000Z to 2026-11-27T19:00:00.000Z: 4 differ',
    );
    expect(lines.slice(2, 7)).toEqual([
      'CYCLE  TIME      TASKS  RECORDED                       WHAT-IF',
      '#3     18:01:00  5+0    SCALE_UP 5 (0 -> desired 5)    SCALE_UP 2 (0 -> desired 2)',
      '#4     18:01:30  5+0    MAINTAIN (5 -> desired 5)      MAINTAIN (2 -> desired 2)',
      '#5     18:02:00  5+0    MAINTAIN (5 -> desired 5)      MAINTAIN (2 -> desired 2)',
      '#6     18:02:30  0+0    SCALE_DOWN 5 (5 -> desired 0)  SCALE_DOWN 2 (2 -> desired 0)',
    ]);
    expect(lines.slice(8, 13)).toEqual([
      'TOTALS         RECORDED  WHAT-IF  CHANGE',
      'worker-cycles        15        6      -9',
      'GPU-hours          0.13     0.05   -0.07',
      'spawns                5        2      -3',
      'scale-downs           5        2      -3',
    ]);
  });

  test('--until takes a global position as in events and replay: the window ends there', async () => {
    const decisions = await h.store.db.query<{ global_position: number }>(
      `select global_position from events where event_type = 'ScalingDecided' order by global_position`,
    );
    expect(decisions).toHaveLength(11);
    const fourth = String(decisions[3].global_position);
    const j = JSON.parse((await whatIf({ until: fourth, set: ['MAX_WORKERS=2'], json: true })).out);
    expect(j.cycles).toBe(4);
    expect(j.differing.map((d: { cycle: number }) => d.cycle)).toEqual([3, 4]);
  });

  test('--json: the same figures for scripts, each what-if decision with its math', async () => {
    const r = await whatIf({ set: ['MAX_WORKERS=2'], json: true });
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ policy: 'operators', set: { MAX_WORKERS: '2' }, cycles: 11 });
    expect(j.differing.map((d: { cycle: number }) => d.cycle)).toEqual([3, 4, 5, 6]);
    expect(j.differing[0]).toEqual({
      cycle: 3,
      at: '2026-11-27T18:01:00.000Z',
      queued: 5,
      active: 0,
      recorded: { current: 0, desired: 5, decision: 'SCALE_UP', delta: 5, gpus: 0 },
      whatIf: {
        current: 0,
        desired: 2,
        decision: 'SCALE_UP',
        delta: 2,
        gpus: 0,
        math: 'max(MIN_ACTIVE_GPUS=0, ceil(5 / TASKS_PER_GPU=1) = 5, busy 0 + MACHINES_TO_KEEP_IDLE=0 = 0) = 5',
      },
    });
    // 30 s cycles: 5 workers x 3 cycles = 0.125 GPU-hours recorded, 2 x 3 = 0.05 what-if
    expect(j.totals).toEqual({
      recorded: { workerCycles: 15, gpuHours: 0.125, spawns: 5, scaleDowns: 5 },
      whatIf: { workerCycles: 6, gpuHours: 0.05, spawns: 2, scaleDowns: 2 },
    });
  });

  test('another policy: hpa limits the scale-up and its stabilization window holds the workers', async () => {
    const j = JSON.parse((await whatIf({ policy: 'hpa', json: true })).out);
    expect(j.policy).toBe('hpa');
    expect(j.differing[0]).toMatchObject({ cycle: 3, whatIf: { decision: 'SCALE_UP', delta: 4 } });
    expect(j.differing[1]).toMatchObject({ cycle: 4, whatIf: { decision: 'SCALE_UP', delta: 1 } });
    expect(j.differing[2]).toMatchObject({
      cycle: 6,
      recorded: { decision: 'SCALE_DOWN', delta: 5 },
      whatIf: { decision: 'MAINTAIN', desired: 5 },
    });
    // a shorter window than the idle stretch lets it scale down within the hour
    const short = JSON.parse(
      (await whatIf({ policy: 'hpa', set: ['HPA_SCALE_DOWN_STABILIZATION_SEC=60'], json: true })).out,
    );
    expect(short.totals.whatIf.scaleDowns).toBe(5);
    expect(short.totals.whatIf.workerCycles).toBeLessThan(j.totals.whatIf.workerCycles);
  });

  test('bad --set keys and values: an error naming the key and what is allowed', async () => {
    await expect(whatIf({ set: ['NOPE=1'] })).rejects.toThrow(
      '--set NOPE: not a setting of the operators policy or of the caps; allowed: TASKS_PER_GPU, MIN_ACTIVE_GPUS, MACHINES_TO_KEEP_IDLE, MAX_WORKERS',
    );
    await expect(whatIf({ set: ['MAX_WORKERS=-1'] })).rejects.toThrow(
      '--set MAX_WORKERS=-1 is not allowed: expected a number >= 0',
    );
    await expect(whatIf({ set: ['TASKS_PER_GPU=zero'] })).rejects.toThrow(/TASKS_PER_GPU="zero" is not allowed/);
    await expect(whatIf({ set: ['KEDA_COOLDOWN_SEC=60'] })).rejects.toThrow(/not a setting of the operators policy/);
    await expect(whatIf({ set: ['MAX_WORKERS'] })).rejects.toThrow('--set "MAX_WORKERS" is not KEY=VALUE');
    await expect(whatIf({ policy: 'nope' })).rejects.toThrow(CliError);
    await expect(whatIf({ since: '2026-11-27T20:00:00Z', until: '2026-11-27T21:00:00Z' })).rejects.toThrow(
      /no recorded decision between/,
    );
  });

  test('it writes nothing: the store holds the same events after it', async () => {
    const before = (await h.events()).length;
    await whatIf({ set: ['MAX_WORKERS=1'] });
    await whatIf({ policy: 'keda', set: ['KEDA_COOLDOWN_SEC=600'] });
    expect((await h.events()).length).toBe(before);
  });
});
