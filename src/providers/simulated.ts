import { z } from 'zod';
import { type Clock, seededRandom } from '../clock';
import { defineSettings, int, num } from '../settings';
import {
  keyFromPodName,
  type PodInfo,
  type Provider,
  ProviderError,
  podName,
  type SpawnRequest,
  type WorkerQuote,
} from './provider';

export interface SimulatedOptions {
  clock: Clock;
  /** Seconds a pod takes to start: uniform in [min, max], from a seeded generator. */
  startupMinSec: number;
  startupMaxSec: number;
  /** Probability that a spawn call fails. */
  failureRate: number;
  seed: number;
  /** Price per GPU-hour in USD (SIM_GPU_HOURLY_USD); null or absent: prices unknown. */
  gpuHourlyUsd?: number | null;
  /**
   * Draws a start-up time in seconds from the provider's seeded generator (a backtest's own
   * distribution); default uniform in [startupMinSec, startupMaxSec].
   */
  startupSec?: (random: () => number) => number;
  /** Share of unpark() starts that succeed (0..1, default 0.9); the rest are refused as RunPod refuses a full host. */
  unparkSuccess?: number;
  /** Seconds a started parked pod takes to be up: uniform in [min, max] (default 10-30 s). */
  unparkMinSec?: number;
  unparkMaxSec?: number;
}

interface SimPod extends PodInfo {
  readyAt: number;
  /** When terminate() was called (ms), for billing in simulations. */
  terminatedAt?: number;
  /** Spells parked (ms): [parked at, started again at or null while parked]; no GPU is billed in them. */
  parked: [number, number | null][];
}

/** A pod's life as a simulation bills it: ms since the epoch. */
export interface SimPodLife {
  podId: string;
  workerId: string | null;
  createdAt: number;
  readyAt: number;
  terminatedAt: number | null;
  /** Spells the pod spent parked (ms since the epoch; end null while parked): its GPU was not billed. */
  parked: [number, number | null][];
}

/** Pods that exist only in memory: for demos, tests and backtests, no cloud account needed. */
export class SimulatedProvider implements Provider {
  readonly name = 'simulated';
  readonly gpusPerWorker = 1;
  private readonly pods = new Map<string, SimPod>();
  /** The pods not terminated, by id: what a cycle walks (every pod ever created is only for billing). */
  private readonly livePods = new Map<string, SimPod>();
  private readonly random: () => number;
  private seq = 0;
  /** Every spawn call that created a pod, by key (tests check no key was spawned twice). */
  readonly created: string[] = [];

  constructor(private readonly opts: SimulatedOptions) {
    this.random = seededRandom(opts.seed);
  }

  private price(): number | null {
    const p = this.opts.gpuHourlyUsd;
    return p === undefined || p === null ? null : p * this.gpusPerWorker;
  }

  async quote(): Promise<WorkerQuote> {
    return { gpus: this.gpusPerWorker, hourlyCostUsd: this.price() };
  }

  async spawn(req: SpawnRequest): Promise<PodInfo> {
    const name = podName(req.idempotencyKey);
    const found = [...this.livePods.values()].find((p) => p.name === name);
    if (found) return { ...this.view(found), existing: true };
    if (this.random() < this.opts.failureRate) {
      throw new ProviderError('error', 'simulated spawn failure');
    }
    const { startupMinSec: lo, startupMaxSec: hi } = this.opts;
    const now = this.opts.clock.now().getTime();
    this.seq += 1;
    const pod: SimPod = {
      podId: `sim-${this.seq.toString().padStart(4, '0')}`,
      name,
      workerId: req.workerId,
      idempotencyKey: req.idempotencyKey,
      status: 'starting',
      createdAt: new Date(now).toISOString(),
      readyAt: now + (this.opts.startupSec ? this.opts.startupSec(this.random) : lo + this.random() * (hi - lo)) * 1000,
      gpuCount: this.gpusPerWorker,
      hourlyCostUsd: this.price(),
      parked: [],
    };
    this.pods.set(pod.podId, pod);
    this.livePods.set(pod.podId, pod);
    this.created.push(req.idempotencyKey);
    return this.view(pod);
  }

  async terminate(podId: string): Promise<void> {
    const pod = this.pods.get(podId);
    if (pod && pod.status !== 'terminated') {
      pod.status = 'terminated';
      pod.terminatedAt = this.opts.clock.now().getTime();
      this.livePods.delete(podId);
    }
  }

  /** Parks a pod: it exits, keeps its disk, and bills no GPU until unpark(). Parking a parked pod is a no-op. */
  async park(podId: string): Promise<void> {
    const pod = this.livePods.get(podId);
    if (!pod) throw new ProviderError('error', `simulated: no pod ${podId} to stop`);
    if (pod.status === 'exited') return;
    pod.status = 'exited';
    pod.parked.push([this.opts.clock.now().getTime(), null]);
  }

  /**
   * Starts a parked pod: up after unparkMinSec-unparkMaxSec, or refused (a 'capacity' error, as
   * RunPod's "not enough free GPUs on the host machine") with probability 1 - unparkSuccess.
   */
  async unpark(podId: string): Promise<PodInfo> {
    const pod = this.livePods.get(podId);
    if (!pod) throw new ProviderError('capacity', `simulated: start pod ${podId}: pod not found`);
    const view = this.view(pod);
    if (view.status === 'starting' || view.status === 'running') return { ...view, existing: true };
    if (this.random() >= (this.opts.unparkSuccess ?? 0.9)) {
      throw new ProviderError(
        'capacity',
        'simulated: there are not enough free GPUs on the host machine to start this pod',
      );
    }
    const now = this.opts.clock.now().getTime();
    const lo = this.opts.unparkMinSec ?? 10;
    const hi = this.opts.unparkMaxSec ?? 30;
    const spell = pod.parked[pod.parked.length - 1];
    if (spell && spell[1] === null) spell[1] = now;
    pod.status = 'starting';
    pod.readyAt = now + (lo + this.random() * (hi - lo)) * 1000;
    return this.view(pod);
  }

  /** Every pod ever created, with its start-up and end times (for simulations). */
  lives(): SimPodLife[] {
    return [...this.pods.values()].map(life);
  }

  /** The pods not terminated, as lives(): what a simulation's cycle walks. */
  liveLives(): SimPodLife[] {
    return [...this.livePods.values()].map(life);
  }

  async list(): Promise<PodInfo[]> {
    return [...this.livePods.values()].map((p) => this.view(p));
  }

  /** Pods that are up (for the simulated workers). */
  running(): PodInfo[] {
    return [...this.livePods.values()].filter((p) => this.view(p).status === 'running').map((p) => this.view(p));
  }

  /** Makes a pod exit on its own (a crash), for tests. */
  crash(podId: string, exitCode = 1): void {
    const pod = this.pods.get(podId);
    if (pod) {
      pod.status = 'exited';
      pod.exitCode = exitCode;
    }
  }

  private view(p: SimPod): PodInfo {
    const { readyAt, ...info } = p;
    const status = p.status === 'starting' && this.opts.clock.now().getTime() >= readyAt ? 'running' : p.status;
    if (status !== p.status) p.status = status;
    return { ...info, status, idempotencyKey: keyFromPodName(p.name) };
  }
}

function life(p: SimPod): SimPodLife {
  return {
    podId: p.podId,
    workerId: p.workerId ?? null,
    createdAt: Date.parse(p.createdAt ?? ''),
    readyAt: p.readyAt,
    terminatedAt: p.terminatedAt ?? null,
    parked: p.parked.map(([a, b]) => [a, b]),
  };
}

/** PROVIDER=simulated settings (spread into ConfigSchema); checkSimSettings runs only with PROVIDER=simulated. */
export const SIM_SETTINGS = {
  SIM_STARTUP_MIN_SEC: num(0).default(5),
  SIM_STARTUP_MAX_SEC: num(0).default(20),
  SIM_FAILURE_RATE: num(0, 1).default(0.05),
  SIM_TASK_SEC: num(0).default(20),
  SIM_SEED: int(0).default(42),
  /** The simulated provider's price per GPU-hour in USD (unset: prices unknown). */
  SIM_GPU_HOURLY_USD: num(0).optional(),
  /** Share of parked pods' starts that succeed (the rest are refused, as a full host refuses on RunPod). */
  SIM_UNPARK_SUCCESS: num(0, 1).default(0.9),
  /** A started parked pod is up after a time uniform in [min, max] seconds (no image pull, no model download). */
  SIM_UNPARK_MIN_SEC: num(0).default(10),
  SIM_UNPARK_MAX_SEC: num(0).default(30),
};
const simSchema = z.object(SIM_SETTINGS);
export type SimSettings = z.infer<typeof simSchema>;

export function checkSimSettings(s: SimSettings): string[] {
  const problems: string[] = [];
  if (s.SIM_STARTUP_MAX_SEC < s.SIM_STARTUP_MIN_SEC)
    problems.push(
      `SIM_STARTUP_MAX_SEC=${s.SIM_STARTUP_MAX_SEC} is not allowed: expected a number >= SIM_STARTUP_MIN_SEC (${s.SIM_STARTUP_MIN_SEC})`,
    );
  if (s.SIM_UNPARK_MAX_SEC < s.SIM_UNPARK_MIN_SEC)
    problems.push(
      `SIM_UNPARK_MAX_SEC=${s.SIM_UNPARK_MAX_SEC} is not allowed: expected a number >= SIM_UNPARK_MIN_SEC (${s.SIM_UNPARK_MIN_SEC})`,
    );
  return problems;
}

/** PROVIDER=simulated: pods in memory, for demos, tests and backtests (registered in registry.ts). */
export const simulatedDefinition = defineSettings({
  name: 'simulated',
  settings: SIM_SETTINGS,
  secrets: [],
  check: checkSimSettings,
});

export function simulatedProviderFromConfig(s: SimSettings, clock: Clock): SimulatedProvider {
  return new SimulatedProvider({
    clock,
    startupMinSec: s.SIM_STARTUP_MIN_SEC,
    startupMaxSec: s.SIM_STARTUP_MAX_SEC,
    failureRate: s.SIM_FAILURE_RATE,
    seed: s.SIM_SEED,
    gpuHourlyUsd: s.SIM_GPU_HOURLY_USD ?? null,
    unparkSuccess: s.SIM_UNPARK_SUCCESS,
    unparkMinSec: s.SIM_UNPARK_MIN_SEC,
    unparkMaxSec: s.SIM_UNPARK_MAX_SEC,
  });
}
