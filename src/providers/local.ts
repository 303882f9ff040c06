import { type ChildProcess, spawn as spawnChild } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { type Clock, systemClock } from '../clock';
import { defineSettings, int, num } from '../settings';
import { type PodInfo, type Provider, ProviderError, podName, type SpawnRequest } from './provider';

const LOCAL_PROVIDER_DEFAULTS = {
  graceMs: 10_000,
  maxWorkers: 1,
  exitedRetentionMs: 60 * 60 * 1000,
};

export interface LocalProviderOptions {
  /** WORKER_COMMAND: a shell command line, run with `sh -c`. */
  command: string;
  /** LOCAL_GPUS parsed (e.g. ['0', '1']): one per worker through CUDA_VISIBLE_DEVICES; caps the workers. */
  gpus?: readonly string[] | null;
  /** Without GPUs, at most this many workers at once (LOCAL_MAX_WORKERS, default 1). */
  maxWorkers?: number;
  /** Between SIGTERM and SIGKILL (LOCAL_TERMINATE_GRACE_SEC, default 10 s). */
  graceMs?: number;
  /** A worker that exited on its own stays listed this long unless terminated (default 1 h). */
  exitedRetentionMs?: number;
  /** Working directory of the workers (default: ours). */
  cwd?: string;
  /** The environment the workers inherit (default process.env). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Each worker's stdout and stderr are appended to <logDir>/<pod name>.log; without it they are discarded. */
  logDir?: string | null;
  /** For createdAt and exit times (default the system clock). */
  clock?: Clock;
}

interface LocalPod {
  podId: string;
  name: string;
  key: string;
  workerId: string;
  pid: number;
  gpu: string | null;
  createdAt: string;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null;
  terminating: Promise<void> | null;
  logFile: string | null;
  /** Parked: the process group is stopped (SIGSTOP), keeping its GPU and memory, taking no tasks. */
  parked: boolean;
}

/** Parses LOCAL_GPUS ("0,1,2,3"): trimmed, non-empty, distinct entries; empty or unset means none. */
export function parseLocalGpus(value: string | undefined | null): string[] | null {
  const list = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (list.length === 0) return null;
  const dup = list.find((g, i) => list.indexOf(g) !== i);
  if (dup !== undefined) throw new Error(`LOCAL_GPUS lists GPU ${dup} twice`);
  return list;
}

/**
 * Workers as local child processes: one per GPU listed (CUDA_VISIBLE_DEVICES), or up to maxWorkers
 * without GPUs. Each worker runs WORKER_COMMAND with `sh -c` in its own process group, with
 * GPU_SCALER_WORKER_ID (and the SpawnRequest env) in its environment.
 *
 * Rules:
 * - spawn is idempotent by key while this process remembers the pod (same key: the same pod, `existing: true`);
 * - a worker's GPU is free again as soon as its process exits;
 * - list() shows running workers as 'running' and workers that exited on their own as 'exited'
 *   with their exitCode (null when killed by a signal, see details.signal); an exited worker stays
 *   listed until terminate() is called on it, or for exitedRetentionMs after its exit;
 * - terminate() sends SIGTERM to the worker's process group, SIGKILL after graceMs, and resolves
 *   once it has exited; the pod is then forgotten (listed as usual until then). An unknown or
 *   exited pod is fine;
 * - only pods started by this process are known: workers of a previous run are not listed;
 * - park() stops the worker's process group with SIGSTOP: it keeps its process, its GPU (the slot
 *   stays taken) and whatever it loaded, but takes no tasks; it is listed as 'exited' (as a stopped
 *   RunPod pod is) until unpark() resumes it with SIGCONT. This saves nothing; it is there so
 *   parking can be tried and tested on one machine.
 */
export class LocalProvider implements Provider {
  readonly name = 'local';
  readonly gpusPerWorker = 1;
  private readonly pods = new Map<string, LocalPod>();
  /** Spawns between their start and the process being up, by key (for idempotency and capacity). */
  private readonly starting = new Map<string, { gpu: string | null; promise: Promise<PodInfo> }>();
  private readonly clock: Clock;
  private readonly graceMs: number;
  private readonly slots: number;
  private closed = false;

  constructor(private readonly opts: LocalProviderOptions) {
    if (!opts.command || opts.command.trim() === '')
      throw new Error('WORKER_COMMAND is required by the local provider');
    this.clock = opts.clock ?? systemClock;
    this.graceMs = opts.graceMs ?? LOCAL_PROVIDER_DEFAULTS.graceMs;
    this.slots = opts.gpus?.length ? opts.gpus.length : (opts.maxWorkers ?? LOCAL_PROVIDER_DEFAULTS.maxWorkers);
    if (!Number.isInteger(this.slots) || this.slots < 1) {
      throw new Error(`the local provider needs at least one worker slot (got ${this.slots})`);
    }
    if (opts.logDir) fs.mkdirSync(opts.logDir, { recursive: true });
  }

  async spawn(req: SpawnRequest): Promise<PodInfo> {
    if (this.closed) throw new ProviderError('error', 'the local provider is closed');
    this.prune();
    const key = req.idempotencyKey;
    const found = [...this.pods.values()].find((p) => p.key === key);
    if (found) return { ...this.view(found), existing: true };
    const inFlight = this.starting.get(key);
    if (inFlight) return { ...(await inFlight.promise), existing: true };

    const live = [...this.pods.values()].filter((p) => !p.exit);
    if (live.length + this.starting.size >= this.slots) {
      throw new ProviderError(
        'capacity',
        this.opts.gpus?.length
          ? `all ${this.slots} local GPUs are in use`
          : `all ${this.slots} local worker slots are in use (LOCAL_MAX_WORKERS)`,
      );
    }
    const taken = new Set([...live.map((p) => p.gpu), ...[...this.starting.values()].map((s) => s.gpu)]);
    const gpu = (this.opts.gpus ?? []).find((g) => !taken.has(g)) ?? null;
    const promise = this.start(req, gpu);
    this.starting.set(key, { gpu, promise });
    let pod: PodInfo;
    try {
      pod = await promise;
    } finally {
      this.starting.delete(key);
    }
    if (this.closed) {
      // close() ran while this one was starting: it must not outlive the provider
      await this.terminate(pod.podId);
      throw new ProviderError('error', 'the local provider is closed');
    }
    return pod;
  }

  private async start(req: SpawnRequest, gpu: string | null): Promise<PodInfo> {
    const name = podName(req.idempotencyKey);
    const env: NodeJS.ProcessEnv = {
      ...(this.opts.baseEnv ?? process.env),
      ...req.env,
      GPU_SCALER_WORKER_ID: req.workerId,
      GPU_SCALER_POD_NAME: name,
    };
    if (gpu !== null) env.CUDA_VISIBLE_DEVICES = gpu;

    let logFile: string | null = null;
    let out: number | 'ignore' = 'ignore';
    if (this.opts.logDir) {
      logFile = path.join(this.opts.logDir, `${name}.log`);
      out = fs.openSync(logFile, 'a');
    }
    let child: ChildProcess;
    try {
      child = spawnChild('sh', ['-c', this.opts.command], {
        cwd: this.opts.cwd,
        env,
        // its own process group, so terminate() reaches whatever the command starts
        detached: true,
        stdio: ['ignore', out, out],
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (err) {
      throw new ProviderError('error', `could not start the worker command: ${(err as Error).message}`);
    } finally {
      if (typeof out === 'number') fs.closeSync(out);
    }
    const pid = child.pid as number;
    let podId = `local-${pid}`;
    for (let n = 2; this.pods.has(podId); n++) podId = `local-${pid}-${n}`;
    child.on('error', () => {}); // a later error (a failed signal) must not crash the orchestrator
    const pod: LocalPod = {
      podId,
      name,
      key: req.idempotencyKey,
      workerId: req.workerId,
      pid,
      gpu,
      createdAt: this.clock.now().toISOString(),
      child,
      exit: null,
      terminating: null,
      parked: false,
      logFile,
      exited: Promise.resolve(),
    };
    pod.exited = new Promise<void>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        pod.exit ??= { code, signal, at: this.clock.now().getTime() };
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode, child.signalCode);
      else child.once('exit', done);
    });
    this.pods.set(podId, pod);
    return this.view(pod);
  }

  /** Parks a worker: SIGSTOP to its process group (it keeps its process and GPU, takes no tasks). */
  async park(podId: string): Promise<void> {
    const pod = this.pods.get(podId);
    if (!pod || pod.exit) throw new ProviderError('error', `local: no running worker ${podId} to park`);
    if (pod.parked) return;
    signalGroup(pod.pid, 'SIGSTOP');
    pod.parked = true;
  }

  /** Resumes a parked worker (SIGCONT); one that is gone or exited is refused. */
  async unpark(podId: string): Promise<PodInfo> {
    const pod = this.pods.get(podId);
    if (!pod || pod.exit || pod.terminating)
      throw new ProviderError('capacity', `local: worker ${podId} is gone; it cannot be resumed`);
    if (pod.parked) {
      signalGroup(pod.pid, 'SIGCONT');
      pod.parked = false;
    }
    return this.view(pod);
  }

  async terminate(podId: string): Promise<void> {
    const pod = this.pods.get(podId);
    if (!pod) return;
    if (pod.parked) {
      // a stopped group would not act on SIGTERM until continued
      signalGroup(pod.pid, 'SIGCONT');
      pod.parked = false;
    }
    pod.terminating ??= this.stop(pod).finally(() => {
      this.pods.delete(podId);
    });
    return pod.terminating;
  }

  async list(): Promise<PodInfo[]> {
    this.prune();
    return [...this.pods.values()].map((p) => this.view(p));
  }

  /** Terminates every worker (and any that was starting); spawn() is refused from now on. */
  async close(): Promise<void> {
    this.closed = true;
    const starting = [...this.starting.values()].map((s) => s.promise.catch(() => {}));
    await Promise.all([...this.pods.keys()].map((id) => this.terminate(id)));
    await Promise.all(starting);
    await Promise.all([...this.pods.keys()].map((id) => this.terminate(id)));
  }

  /** SIGTERM to the group; SIGKILL after the grace if the worker (or anything it started) is still there. */
  private async stop(pod: LocalPod): Promise<void> {
    if (!groupAlive(pod.pid)) {
      await pod.exited;
      return;
    }
    signalGroup(pod.pid, 'SIGTERM');
    let graceOver = false;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        graceOver = true;
        resolve();
      }, this.graceMs);
    });
    try {
      await Promise.race([pod.exited, grace]);
      // the leader is gone; wait (within the grace) for the rest of its group
      while (!graceOver && groupAlive(pod.pid)) await Promise.race([sleep(50), grace]);
    } finally {
      clearTimeout(timer);
    }
    if (groupAlive(pod.pid)) {
      signalGroup(pod.pid, 'SIGKILL');
      // SIGKILL cannot be ignored; wait (bounded, a zombie nobody reaps would stay) for the group to go
      const deadline = Date.now() + KILL_WAIT_MS;
      while (groupAlive(pod.pid) && Date.now() < deadline) await sleep(20);
    }
    await pod.exited;
  }

  /** Forgets exited workers after the retention period. */
  private prune(): void {
    const retention = this.opts.exitedRetentionMs ?? LOCAL_PROVIDER_DEFAULTS.exitedRetentionMs;
    const now = this.clock.now().getTime();
    for (const [id, p] of this.pods) {
      if (p.exit && !p.terminating && now - p.exit.at >= retention) this.pods.delete(id);
    }
  }

  private view(p: LocalPod): PodInfo {
    return {
      podId: p.podId,
      name: p.name,
      workerId: p.workerId,
      idempotencyKey: p.key,
      status: p.exit || p.parked ? 'exited' : 'running',
      createdAt: p.createdAt,
      exitCode: p.exit ? p.exit.code : null,
      details: {
        pid: p.pid,
        gpu: p.gpu,
        ...(p.exit?.signal ? { signal: p.exit.signal } : {}),
        ...(p.logFile ? { logFile: p.logFile } : {}),
        ...(p.parked ? { parked: true } : {}),
      },
    };
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone
  }
}

/** Whether anything of the process group still runs (zombies waiting for a slow init do not count, on Linux). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return process.platform === 'linux' ? linuxGroupHasLiveMember(pgid) : true;
}

function linuxGroupHasLiveMember(pgid: number): boolean {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return true;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

const KILL_WAIT_MS = 5000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function createLocalProvider(opts: LocalProviderOptions): LocalProvider {
  return new LocalProvider(opts);
}

/** PROVIDER=local settings (spread into ConfigSchema); checkLocalSettings runs only with PROVIDER=local. */
export const LOCAL_SETTINGS = {
  /** The shell command that runs one worker (it gets GPU_SCALER_WORKER_ID and CUDA_VISIBLE_DEVICES). */
  WORKER_COMMAND: z.string().optional(),
  /** GPUs to hand out, one per worker ("0,1,2,3"); never more workers than GPUs. */
  LOCAL_GPUS: z.string().optional(),
  LOCAL_MAX_WORKERS: int(1).default(1),
  LOCAL_TERMINATE_GRACE_SEC: num(0).default(10),
  LOCAL_WORKER_LOG_DIR: z.string().default('./.gpu-scaler/workers'),
};
const localSchema = z.object(LOCAL_SETTINGS);
export type LocalSettings = z.infer<typeof localSchema>;

export function checkLocalSettings(s: LocalSettings): string[] {
  const problems: string[] = [];
  if (!s.WORKER_COMMAND) problems.push('WORKER_COMMAND is required with PROVIDER=local');
  try {
    parseLocalGpus(s.LOCAL_GPUS);
  } catch (err) {
    problems.push(`LOCAL_GPUS=${JSON.stringify(s.LOCAL_GPUS)} is not allowed: ${(err as Error).message}`);
  }
  return problems;
}

/** PROVIDER=local: one process per worker on this machine (registered in registry.ts). */
export const localDefinition = defineSettings({
  name: 'local',
  settings: LOCAL_SETTINGS,
  secrets: [],
  check: checkLocalSettings,
});

export function localProviderFromConfig(s: LocalSettings, clock: Clock): LocalProvider {
  return createLocalProvider({
    command: s.WORKER_COMMAND ?? '',
    gpus: parseLocalGpus(s.LOCAL_GPUS),
    maxWorkers: s.LOCAL_MAX_WORKERS,
    graceMs: s.LOCAL_TERMINATE_GRACE_SEC * 1000,
    logDir: s.LOCAL_WORKER_LOG_DIR || null,
    clock,
  });
}
