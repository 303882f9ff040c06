import { DEFAULT_POOL } from '../../events/common';
import { appRegistry } from '../../events/index';
import type { AllocationRecord } from '../../events/scaling';
import { ALL_PROJECTIONS } from '../../projections/index';
import { FakeClock, seededRandom } from '../clock';
import type { Config } from '../config';
import type { Configuration } from '../config-file';
import { cycleSlotAtOrBefore, nextCycleAt } from '../control/cadence';
import { configuredPolicy } from '../control/steps/decide';
import { type PoolsPlan, poolsPlan } from '../pools/plan';
import { ProjectionRunner } from '../projections/runner';
import { SimulatedProvider } from '../providers/simulated';
import type { StoredEvent } from '../store/event-store';
import { MemoryEventStore } from '../store/memory';
import { buildSystem, type System } from '../system';
import { QueueModel } from './queue';
import {
  percentile,
  QueueSource,
  quietLog,
  round,
  SIM_DB_LOGGING,
  type SimulateOptions,
  type Undrained,
  undrainedAt,
} from './simulate';
import type { Trace } from './trace';

/**
 * `simulate` with pools (a configuration file's pools, a trace with a pool column): one System per
 * pool (its own configuration, queue and simulated provider) on one in-memory store, one projection
 * runner and one fake clock, each stepping at its own POLL_INTERVAL_SEC, all under the plan's global
 * caps (src/pools/plan.ts), as one process leading every pool runs them. A report per pool and in
 * total, so an operator can try a budget split before deploying it.
 */

export interface PoolsSimulateOptions extends Omit<SimulateOptions, 'config' | 'trace' | 'onProgress'> {
  trace: Trace;
  configuration: Configuration;
  onProgress?: (doneSec: number, totalSec: number) => void;
}

export interface WaitFigures {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** One pool's figures (or the total's: policy null). */
export interface PoolFigures {
  pool: string;
  policy: string | null;
  priority: number | null;
  tasks: number;
  cycles: number;
  wait: WaitFigures;
  /** Share of tasks that waited longer than the SLO (0..1). */
  overSlo: number;
  gpuHours: number;
  /** USD: GPU-hours at the pool's SIM_GPU_HOURLY_USD; null when a pool has no price. */
  costUsd: number | null;
  spawns: number;
  spawnFailures: number;
  /** Spawns a global cap held back (heldBackSpawns). */
  heldBack: number;
  peakWorkers: number;
}

export interface PoolsSimResult {
  seed: number;
  /** The global caps the run was held to. */
  caps: PoolsPlan['caps'];
  pools: PoolFigures[];
  total: PoolFigures;
  simulatedSec: number;
  undrained: (Undrained & { pool: string }) | null;
  eventsWritten: number;
}

/**
 * Spawns a global cap held back in a pool's record, each once: a decision that got less than it
 * wanted counts the workers it would have added beyond those it got (heldBackBy), less those the
 * decision before already counted (a worker held back for ten cycles is one spawn held back), and
 * every spawn the reactor refused for a global cap counts one.
 */
export function heldBackSpawns(events: readonly StoredEvent[], pool: string): number {
  let held = 0;
  let before = 0;
  for (const e of events) {
    if ((e.data.pool ?? DEFAULT_POOL) !== pool) continue;
    if (e.type === 'ScalingDecided') {
      const now = heldBackBy({ ...e.data, pool });
      held += Math.max(0, now - before);
      before = now;
    } else if (e.type === 'WorkerSpawnFailed' && refusedByGlobalCap(e.data.error)) held += 1;
  }
  return held;
}

/** The workers a decision would have added beyond those the global budget let it have (0: none held back). */
export function heldBackBy(d: {
  pool: string;
  current: { total: number };
  allocation?: AllocationRecord | null;
}): number {
  const share = d.allocation?.shares.find((s) => s.pool === d.pool);
  if (!share || share.limitedBy === null) return 0;
  const current = d.current.total;
  return Math.max(0, share.wantWorkers - current) - Math.max(0, share.gotWorkers - current);
}

/** Whether a spawn failure is the reactor's refusal for a global cap (its error names GLOBAL_MAX_*). */
export const refusedByGlobalCap = (error: string): boolean => /GLOBAL_MAX_/.test(error);

/** The pools of a trace's tasks that the configuration does not have: an error naming both. */
export function tracePoolProblem(trace: Trace, configuration: Configuration): string | null {
  const configured = configuration.pools.map((p) => p.name);
  const inTrace = [...new Set(trace.tasks.map((t) => t.pool ?? DEFAULT_POOL))];
  const unknown = inTrace.filter((p) => !configured.includes(p));
  if (unknown.length === 0) return null;
  const hasColumn = trace.tasks.some((t) => t.pool !== undefined);
  return hasColumn
    ? `the trace's pool column names pool${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}, which the configuration does not have: its pools are ${configured.join(', ')}`
    : `the trace has no pool column (name it with --pool-column), so its tasks are pool ${DEFAULT_POOL}'s, which the configuration does not have: its pools are ${configured.join(', ')}`;
}

interface Lane {
  pool: string;
  config: Config;
  queue: QueueModel;
  provider: SimulatedProvider;
  system: System;
  stepMs: number;
  nextAt: number;
  tail: number;
  known: Set<string>;
  cycles: number;
  peak: number;
  live: number;
  drainedAt: number | null;
  stalledSince: number | null;
  stallSec: number;
  horizonSec: number;
}

/** Runs every pool of the configuration on the trace's tasks for it (see above). */
export async function simulatePools(
  o: PoolsSimulateOptions,
): Promise<{ result: PoolsSimResult; store: MemoryEventStore }> {
  const { trace, configuration } = o;
  const problem = tracePoolProblem(trace, configuration);
  if (problem) throw new Error(problem);
  const t0 = trace.start.getTime();
  const idRandom = seededRandom(o.seed ^ 0x5eed);
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(idRandom() * 16).toString(16)).join('');
  const newId = () =>
    `${hex(8)}-${hex(4)}-4${hex(3)}-${(8 + Math.floor(idRandom() * 4)).toString(16)}${hex(3)}-${hex(12)}`;
  const firstMs = Math.min(
    ...configuration.pools.map((p) => cycleSlotAtOrBefore(t0, p.config.POLL_INTERVAL_SEC * 1000)),
  );
  const clock = new FakeClock(new Date(firstMs));
  const store = new MemoryEventStore(appRegistry, { newId, now: () => clock.now() });
  const projections = new ProjectionRunner(store, ALL_PROJECTIONS);
  // the simulated provider's workers are 1 GPU each
  const plan = poolsPlan(configuration, () => 1);
  const toIso = (t: number) => new Date(t0 + t * 1000).toISOString();
  const { minSec, maxSec } = o.startup;
  const lanes: Lane[] = [];
  for (const [i, p] of configuration.pools.entries()) {
    const tasks = trace.tasks.filter((t) => (t.pool ?? DEFAULT_POOL) === p.name);
    const queue = new QueueModel(tasks);
    const provider = new SimulatedProvider({
      clock,
      startupMinSec: minSec,
      startupMaxSec: maxSec,
      failureRate: o.failureRate,
      // each pool its own draws, the same for the same seed
      seed: (o.seed + i * 0x9e3779b1) >>> 0,
      gpuHourlyUsd: p.config.SIM_GPU_HOURLY_USD ?? null,
      unparkSuccess: o.unpark?.success ?? 0.9,
      unparkMinSec: o.unpark?.minSec ?? 10,
      unparkMaxSec: o.unpark?.maxSec ?? 30,
    });
    const system = await buildSystem({
      store,
      pool: p.name,
      plan,
      projections,
      config: p.config,
      clock,
      log: quietLog,
      dbLogging: () => SIM_DB_LOGGING,
      provider,
      source: new QueueSource(queue, toIso),
      reactorWaitMs: 0,
      newId,
    });
    const stepMs = p.config.POLL_INTERVAL_SEC * 1000;
    const chosen = configuredPolicy(p.config);
    const idleSetting = chosen.policy.idleSetting;
    const idleSec = idleSetting ? Number(chosen.settings[idleSetting]) : p.config.GPU_IDLE_TIMEOUT_SEC;
    const step = p.config.POLL_INTERVAL_SEC;
    const lastArrival = tasks.length ? tasks[tasks.length - 1].arrival : 0;
    const workBound = tasks.reduce((sum, x) => sum + x.run, 0);
    const stallSec = Math.max(3600, 2 * (p.config.SPAWNING_TIMEOUT_SEC + maxSec) + 10 * step);
    const tail = idleSec + p.config.SPAWNING_TIMEOUT_SEC + 4 * step;
    lanes.push({
      pool: p.name,
      config: p.config,
      queue,
      provider,
      system,
      stepMs,
      nextAt: cycleSlotAtOrBefore(t0, stepMs),
      tail,
      known: new Set(),
      cycles: 0,
      peak: 0,
      live: 0,
      drainedAt: null,
      stalledSince: null,
      stallSec,
      horizonSec: lastArrival + workBound + tail + stallSec,
    });
  }
  const totalSec = Math.max(...lanes.map((l) => (l.queue.tasks.at(-1)?.arrival ?? 0) + l.tail));

  /** The queue's workers follow the provider's live pods (as in simulate). */
  const syncPods = (l: Lane): number => {
    const seen = new Set<string>();
    for (const p of l.provider.liveLives()) {
      const spell = p.parked[p.parked.length - 1];
      if (spell && spell[1] === null) continue;
      const id = p.workerId ?? p.podId;
      seen.add(id);
      if (!l.known.has(id)) {
        l.known.add(id);
        l.queue.addWorker(id, (p.readyAt - t0) / 1000);
      }
    }
    for (const id of l.known) {
      if (!seen.has(id)) {
        l.queue.removeWorker(id);
        l.known.delete(id);
      }
    }
    return seen.size;
  };
  const done = (l: Lane, t: number) => l.drainedAt !== null && (l.live === 0 || t >= l.drainedAt + l.tail);

  let undrained: PoolsSimResult['undrained'] = null;
  let t = (firstMs - t0) / 1000;
  for (;;) {
    const now = Math.min(...lanes.map((l) => l.nextAt));
    clock.set(new Date(now));
    t = (now - t0) / 1000;
    for (const l of lanes) {
      if (l.nextAt !== now) continue;
      l.queue.advanceTo(t);
      syncPods(l);
      await l.system.controller.runCycle();
      await l.system.reactor.catchUp();
      await projections.catchUp();
      l.live = syncPods(l);
      l.cycles++;
      l.peak = Math.max(l.peak, l.live);
      if (l.queue.drained && l.drainedAt === null) l.drainedAt = t;
      l.stalledSince = l.queue.queued > 0 && l.queue.active === 0 ? (l.stalledSince ?? t) : null;
      const stalled = l.stalledSince !== null && t - l.stalledSince >= l.stallSec;
      if (l.drainedAt === null && (stalled || t >= l.horizonSec) && undrained === null) {
        undrained = {
          pool: l.pool,
          ...undrainedAt(stalled ? 'stalled' : 'horizon', t, l.stallSec, l.horizonSec, l.queue, l.config, {
            ...o,
            config: l.config,
          }),
        };
      }
      l.nextAt = nextCycleAt(now, l.stepMs);
    }
    o.onProgress?.(Math.max(0, t), totalSec);
    if (undrained || lanes.every((l) => done(l, t))) break;
  }

  const end = t0 + t * 1000;
  const events = store.all();
  const figures = lanes.map((l): PoolFigures & { waits: number[] } => {
    let gpuMs = 0;
    for (const p of l.provider.lives()) {
      const parked = p.parked.reduce((n, [from, to]) => n + ((to ?? p.terminatedAt ?? end) - from), 0);
      gpuMs += (p.terminatedAt ?? end) - p.createdAt - parked;
    }
    const waits = l.queue.waits().sort((a, b) => a - b);
    const gpuHours = gpuMs / 3_600_000;
    const price = l.config.SIM_GPU_HOURLY_USD;
    const own = events.filter((e) => (e.data.pool ?? DEFAULT_POOL) === l.pool);
    return {
      pool: l.pool,
      policy: l.config.POLICY,
      priority: l.config.PRIORITY,
      tasks: l.queue.tasks.length,
      cycles: l.cycles,
      wait: waitFigures(waits),
      overSlo: overSlo(waits, o.sloSec),
      gpuHours: round(gpuHours, 3),
      costUsd: price === undefined ? null : round(gpuHours * price, 2),
      spawns: own.filter((e) => e.type === 'WorkerSpawned').length,
      spawnFailures: own.filter((e) => e.type === 'WorkerSpawnFailed').length,
      heldBack: heldBackSpawns(own, l.pool),
      peakWorkers: l.peak,
      waits,
    };
  });
  const allWaits = figures.flatMap((f) => f.waits).sort((a, b) => a - b);
  const sum = (k: 'tasks' | 'cycles' | 'spawns' | 'spawnFailures' | 'heldBack' | 'peakWorkers') =>
    figures.reduce((n, f) => n + f[k], 0);
  const total: PoolFigures = {
    pool: 'total',
    policy: null,
    priority: null,
    tasks: sum('tasks'),
    cycles: sum('cycles'),
    wait: waitFigures(allWaits),
    overSlo: overSlo(allWaits, o.sloSec),
    gpuHours: round(
      figures.reduce((n, f) => n + f.gpuHours, 0),
      3,
    ),
    costUsd: figures.every((f) => f.costUsd !== null)
      ? round(
          figures.reduce((n, f) => n + (f.costUsd ?? 0), 0),
          2,
        )
      : null,
    spawns: sum('spawns'),
    spawnFailures: sum('spawnFailures'),
    heldBack: sum('heldBack'),
    // the pools' peaks need not fall at once: their sum bounds the fleet's peak from above
    peakWorkers: sum('peakWorkers'),
  };
  return {
    result: {
      seed: o.seed,
      caps: plan.caps,
      pools: figures.map(({ waits: _w, ...f }) => f),
      total,
      simulatedSec: t,
      undrained,
      eventsWritten: events.length,
    },
    store,
  };
}

function waitFigures(sorted: readonly number[]): WaitFigures {
  return {
    p50: round(percentile(sorted, 50), 1),
    p95: round(percentile(sorted, 95), 1),
    p99: round(percentile(sorted, 99), 1),
    max: round(sorted.length ? sorted[sorted.length - 1] : 0, 1),
    mean: round(sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : 0, 1),
  };
}

const overSlo = (sorted: readonly number[], sloSec: number) =>
  sorted.length ? round(sorted.filter((w) => w > sloSec).length / sorted.length, 4) : 0;
