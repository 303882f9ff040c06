import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeClock } from '../../src/clock';
import {
  createLocalProvider,
  type LocalProvider,
  type LocalProviderOptions,
  parseLocalGpus,
} from '../../src/providers/local';
import { type PodInfo, ProviderError, podName } from '../../src/providers/provider';
import { waitFor } from '../helpers/wait';

/**
 * The worker: writes what it was given to <OUT_DIR>/<worker id>.json, then idles. MODE=crash
 * exits 3 right away; MODE=stubborn ignores SIGTERM. Each SIGTERM it sees leaves a .sigterm file.
 */
const WORKER = `
const fs = require('node:fs');
const id = process.env.GPU_SCALER_WORKER_ID;
const out = require('node:path').join(process.env.OUT_DIR, id);
process.on('SIGTERM', () => {
  fs.writeFileSync(out + '.sigterm', String(process.pid));
  if (process.env.MODE !== 'stubborn') process.exit(0);
});
console.log('worker ' + id + ' says hello');
if (process.env.MODE === 'crash') process.exit(3);
fs.writeFileSync(out + '.tmp', JSON.stringify({
  workerId: id,
  cuda: process.env.CUDA_VISIBLE_DEVICES ?? null,
  podName: process.env.GPU_SCALER_POD_NAME ?? null,
  extra: process.env.EXTRA ?? null,
  pid: process.pid,
}));
fs.renameSync(out + '.tmp', out + '.json');
setInterval(() => {}, 1000);
`;

interface Report {
  workerId: string;
  cuda: string | null;
  podName: string | null;
  extra: string | null;
  pid: number;
}

let dir: string;
let script: string;
let providers: LocalProvider[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-local-'));
  script = path.join(dir, 'worker.js');
  fs.writeFileSync(script, WORKER);
});

afterEach(async () => {
  for (const p of providers) await p.close();
  providers = [];
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let outCounter = 0;
function make(opts: Partial<LocalProviderOptions> = {}): { provider: LocalProvider; out: string } {
  outCounter += 1;
  const out = path.join(dir, `out-${outCounter}`);
  fs.mkdirSync(out);
  const provider = createLocalProvider({
    command: `"${process.execPath}" "${script}"`,
    baseEnv: { PATH: process.env.PATH, OUT_DIR: out },
    graceMs: 5000,
    ...opts,
  });
  providers.push(provider);
  return { provider, out };
}

const report = (out: string, workerId: string) =>
  waitFor(() => {
    const f = path.join(out, `${workerId}.json`);
    return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as Report) : undefined;
  }, `${workerId} to report`);

/** Whether a process still runs; a zombie (exited, not yet reaped by init) counts as gone. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

const spawnReq = (workerId: string, env?: Record<string, string>) => ({ workerId, idempotencyKey: workerId, env });

describe('local provider', () => {
  test('each worker gets its own GPU and its environment', async () => {
    const { provider, out } = make({ gpus: ['0', '1', '2', '3'] });
    expect(provider.name).toBe('local');
    const a = await provider.spawn(spawnReq('w-a', { EXTRA: 'from-request' }));
    const b = await provider.spawn(spawnReq('w-b'));
    expect(a).toMatchObject({
      name: podName('w-a'),
      workerId: 'w-a',
      idempotencyKey: 'w-a',
      status: 'running',
      exitCode: null,
      details: { gpu: '0' },
    });
    expect(a.podId).toBe(`local-${a.details?.pid}`);
    expect(b.details?.gpu).toBe('1');
    expect(a.existing).toBeUndefined();

    const ra = await report(out, 'w-a');
    const rb = await report(out, 'w-b');
    expect(ra).toMatchObject({ workerId: 'w-a', cuda: '0', podName: podName('w-a'), extra: 'from-request' });
    expect(rb).toMatchObject({ workerId: 'w-b', cuda: '1', extra: null });

    const pods = await provider.list();
    expect(pods.map((p) => [p.workerId, p.status, p.details?.gpu]).sort()).toEqual([
      ['w-a', 'running', '0'],
      ['w-b', 'running', '1'],
    ]);
  });

  test('the worker id and GPU cannot be overridden by the request env', async () => {
    const { provider, out } = make({ gpus: ['7'] });
    await provider.spawn(spawnReq('w-x', { GPU_SCALER_WORKER_ID: 'someone-else', CUDA_VISIBLE_DEVICES: '0,1,2,3' }));
    expect(await report(out, 'w-x')).toMatchObject({ workerId: 'w-x', cuda: '7' });
  });

  test('never more workers than GPUs: a capacity error', async () => {
    const { provider } = make({ gpus: ['0', '1'] });
    await provider.spawn(spawnReq('w-1'));
    await provider.spawn(spawnReq('w-2'));
    const err = await failure(provider.spawn(spawnReq('w-3')));
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).kind).toBe('capacity');
    expect(err.message).toBe('all 2 local GPUs are in use');
    expect((await provider.list()).map((p) => p.workerId).sort()).toEqual(['w-1', 'w-2']);
  });

  test('without LOCAL_GPUS: at most maxWorkers, and CUDA_VISIBLE_DEVICES is left alone', async () => {
    const { provider, out } = make({ maxWorkers: 1, baseEnv: { PATH: process.env.PATH, OUT_DIR: '' } });
    // OUT_DIR from the request env, to show it arrives
    const a = await provider.spawn(spawnReq('w-1', { OUT_DIR: out }));
    expect(a.details?.gpu).toBeNull();
    expect(await report(out, 'w-1')).toMatchObject({ workerId: 'w-1', cuda: null });
    const err = await failure(provider.spawn(spawnReq('w-2')));
    expect((err as ProviderError).kind).toBe('capacity');
    expect(err.message).toBe('all 1 local worker slots are in use (LOCAL_MAX_WORKERS)');
  });

  test('spawn is idempotent by key', async () => {
    const { provider, out } = make({ gpus: ['0', '1'] });
    const first = await provider.spawn(spawnReq('w-1'));
    const again = await provider.spawn({ workerId: 'w-1', idempotencyKey: 'w-1' });
    expect(again).toEqual({ ...first, existing: true });
    const pods = await provider.list();
    expect(pods).toHaveLength(1);
    await report(out, 'w-1');
    expect(fs.readdirSync(out).filter((f) => f.endsWith('.json'))).toEqual(['w-1.json']);
  });

  test('concurrent spawns: one process per key, and capacity counts spawns in flight', async () => {
    const { provider, out } = make({ gpus: ['0', '1'] });
    const results = await Promise.allSettled([
      provider.spawn(spawnReq('w-1')),
      provider.spawn(spawnReq('w-1')),
      provider.spawn(spawnReq('w-2')),
      provider.spawn(spawnReq('w-3')),
    ]);
    const [a, b, c, d] = results;
    const settled = (r: (typeof results)[number]) =>
      r.status === 'fulfilled' ? { podId: r.value.podId, existing: r.value.existing } : { error: String(r.reason) };
    const first = settled(a);
    expect(first).toMatchObject({ podId: expect.any(String) });
    // the same key twice: one pod, the second call finds it
    expect(settled(b)).toEqual({ podId: 'podId' in first ? first.podId : undefined, existing: true });
    expect(c.status === 'fulfilled' && c.value.details?.gpu).toBe('1');
    expect(d.status === 'rejected' && (d.reason as ProviderError).kind).toBe('capacity');
    await report(out, 'w-1');
    await report(out, 'w-2');
    expect((await provider.list()).map((p) => p.workerId).sort()).toEqual(['w-1', 'w-2']);
  });

  test('terminate stops the worker with SIGTERM and frees its GPU', async () => {
    const { provider, out } = make({ gpus: ['0'] });
    const pod = await provider.spawn(spawnReq('w-1'));
    const { pid } = await report(out, 'w-1');
    await provider.terminate(pod.podId);
    expect(fs.readdirSync(out)).toContain('w-1.sigterm');
    expect(alive(pid)).toBe(false);
    expect(await provider.list()).toEqual([]);
    // the GPU is free again, and terminating twice is fine
    await provider.terminate(pod.podId);
    const next = await provider.spawn(spawnReq('w-2'));
    expect(next.details?.gpu).toBe('0');
    expect(await report(out, 'w-2')).toMatchObject({ cuda: '0' });
  });

  test('a worker that ignores SIGTERM is killed after the grace period', async () => {
    const { provider, out } = make({ gpus: ['0'], graceMs: 1000 });
    const pod = await provider.spawn(spawnReq('w-1', { MODE: 'stubborn' }));
    const { pid } = await report(out, 'w-1');
    await provider.terminate(pod.podId);
    expect(fs.readdirSync(out)).toContain('w-1.sigterm'); // it saw SIGTERM and stayed
    expect(alive(pid)).toBe(false);
    expect(await provider.list()).toEqual([]);
  });

  test('a worker that crashes shows up as exited with its exit code, and frees its GPU', async () => {
    const logDir = path.join(dir, 'logs');
    const { provider, out } = make({ gpus: ['0'], logDir });
    const pod = await provider.spawn(spawnReq('w-1', { MODE: 'crash' }));
    const exited = await waitFor(
      async () => (await provider.list()).find((p: PodInfo) => p.podId === pod.podId && p.status === 'exited'),
      'the crash to be listed',
    );
    expect(exited).toMatchObject({ workerId: 'w-1', status: 'exited', exitCode: 3, details: { gpu: '0' } });
    // its output went to its log file
    expect(fs.readFileSync(path.join(logDir, `${podName('w-1')}.log`), 'utf8')).toContain('worker w-1 says hello');

    // the GPU is free although the exited pod is still listed
    const next = await provider.spawn(spawnReq('w-2'));
    expect(next.details?.gpu).toBe('0');
    expect(await report(out, 'w-2')).toMatchObject({ cuda: '0' });
    // the same key finds the exited pod rather than starting a new one
    expect(await provider.spawn(spawnReq('w-1', { MODE: 'crash' }))).toMatchObject({
      podId: pod.podId,
      status: 'exited',
      existing: true,
    });
    expect((await provider.list()).map((p) => [p.workerId, p.status]).sort()).toEqual([
      ['w-1', 'exited'],
      ['w-2', 'running'],
    ]);

    // terminating an exited pod is fine and forgets it
    await provider.terminate(pod.podId);
    expect((await provider.list()).map((p) => p.workerId)).toEqual(['w-2']);
  });

  test('an exited pod is forgotten after the retention period', async () => {
    const clock = new FakeClock();
    const { provider } = make({ gpus: ['0'], clock, exitedRetentionMs: 60_000 });
    const pod = await provider.spawn(spawnReq('w-1', { MODE: 'crash' }));
    await waitFor(async () => (await provider.list()).find((p) => p.status === 'exited'), 'the crash');
    clock.advance(59_000);
    expect((await provider.list()).map((p) => p.podId)).toEqual([pod.podId]);
    clock.advance(1_000);
    expect(await provider.list()).toEqual([]);
  });

  test('close terminates every worker', async () => {
    const { provider, out } = make({ gpus: ['0', '1'] });
    await provider.spawn(spawnReq('w-1'));
    await provider.spawn(spawnReq('w-2'));
    const pids = [(await report(out, 'w-1')).pid, (await report(out, 'w-2')).pid];
    await provider.close();
    expect(pids.map(alive)).toEqual([false, false]);
    expect(await provider.list()).toEqual([]);
    const err = await failure(provider.spawn(spawnReq('w-3')));
    expect(err.message).toBe('the local provider is closed');
  });

  test('a command that cannot start is a provider error', async () => {
    const { provider } = make({ gpus: ['0'], cwd: path.join(dir, 'no-such-dir') });
    const err = await failure(provider.spawn(spawnReq('w-1')));
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).kind).toBe('error');
    expect(err.message).toMatch(/^could not start the worker command: .*ENOENT/);
    expect(await provider.list()).toEqual([]);
  });

  test('configuration', () => {
    expect(parseLocalGpus('0, 1,2 ,3')).toEqual(['0', '1', '2', '3']);
    expect(parseLocalGpus('')).toBeNull();
    expect(parseLocalGpus(undefined)).toBeNull();
    expect(() => parseLocalGpus('0,1,0')).toThrow('LOCAL_GPUS lists GPU 0 twice');
    expect(() => createLocalProvider({ command: ' ' })).toThrow('WORKER_COMMAND is required');
    expect(() => createLocalProvider({ command: 'true', maxWorkers: 0 })).toThrow('at least one worker slot');
  });
});
