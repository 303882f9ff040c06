import { appRegistry } from '../../events/index';
import { FakeClock, seededRandom } from '../clock';
import type { Config } from '../config';
import { cycleSlotAtOrBefore, nextCycleAt } from '../control/cadence';
import type { ControlLog } from '../control/log';
import { configuredPolicy } from '../control/steps/decide';
import { SimulatedProvider } from '../providers/simulated';
import type { TaskSource } from '../sources/source';
import { MemoryEventStore } from '../store/memory';
import { buildSystem } from '../system';
import { QueueModel } from './queue';
import type { Trace } from './trace';

/** A simulation logs nowhere: its database logging always reads as healthy and idle. */
export const SIM_DB_LOGGING = {
  enabled: true,
  healthy: true,
  initError: null,
  sent: 0,
  failed: 0,
  dropped: 0,
  queueSize: 0,
  errorRate: 0,
};

/** How long a cold pod takes to start: uniform in [min, max] seconds (60-180 s by default, as cold GPU pods do). */
export interface StartupModel {
  minSec: number;
  maxSec: number;
}

export interface SimulateOptions {
  trace: Trace;
  /** The controller's configuration (policy, caps, cycle, timeouts), as the service would load it. */
  config: Config;
  seed: number;
  startup: StartupModel;
  /** Share of spawns that fail (0..1). */
  failureRate: number;
  /** A task waiting longer than this misses the SLO (seconds). */
  sloSec: number;
  /**
   * Starts of parked pods (PARKED_MAX in the config turns parking on): the share that succeed and
   * the time a started pod takes to be up, uniform in [minSec, maxSec] (default 0.9, 10-30 s).
   */
  unpark?: { success: number; minSec: number; maxSec: number };
  /** Called after each cycle with the simulated seconds done and the total expected. */
  onProgress?: (doneSec: number, totalSec: number) => void;
}

/** One point of the timeline, after a cycle and its reactor. */
export interface TimelinePoint {
  /** Seconds from the trace's start. */
  t: number;
  queued: number;
  active: number;
  /** Live pods (starting or up). */
  workers: number;
}

export interface TimelineMark {
  t: number;
  kind: 'SCALE_UP' | 'SCALE_DOWN' | 'anomaly';
  label: string;
}

/** A run that could not drain: why it was ended and the tasks it left. */
export interface Undrained {
  /** `stalled`: tasks waited with none running for stallSec; `horizon`: the run passed its horizon. */
  reason: 'stalled' | 'horizon';
  /** Simulated seconds from the trace's start when it was ended. */
  atSec: number;
  stallSec: number;
  horizonSec: number;
  /** Tasks not finished: waiting, running, and not yet arrived. */
  left: { queued: number; running: number; notArrived: number };
  /** In words, for the CLI and the report. */
  message: string;
}

export interface SimResult {
  policy: string;
  seed: number;
  tasks: number;
  /** Null when every task finished; else why the run was ended and what it left. */
  undrained: Undrained | null;
  /** Simulated seconds from the trace's start to the end of the run. */
  simulatedSec: number;
  cycles: number;
  gpuSeconds: number;
  /** Sum of the tasks' run times: no fleet can bill less. */
  workBoundSec: number;
  ratio: number;
  wait: { p50: number; p95: number; p99: number; max: number; mean: number };
  sloSec: number;
  /** Share of tasks that waited longer than sloSec (0..1). */
  overSlo: number;
  spawns: number;
  spawnFailures: number;
  /** Parking: workers parked, parked pods started again, starts refused, and pod-hours spent parked (disk billed, no GPU). */
  parking: { parked: number; unparked: number; refused: number; parkedPodHours: number };
  terminations: number;
  peakWorkers: number;
  anomalies: Record<string, number>;
  eventsWritten: number;
  timeline: TimelinePoint[];
  marks: TimelineMark[];
}

/** The p-th percentile (0..100) of sorted values, nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

export const quietLog: ControlLog = { log() {}, mirror() {} };

/** A task source that reads the simulated queue: counts and each live worker's activity. */
export class QueueSource implements TaskSource {
  readonly name = 'simulated-queue';
  constructor(
    private readonly queue: QueueModel,
    private readonly toIso: (t: number) => string,
  ) {}
  async fetch(opts: { workerIds: string[] }): Promise<unknown> {
    const byId = new Map(this.queue.workerList().map((w) => [w.id, w]));
    return {
      queued: this.queue.queued,
      active: this.queue.active,
      workers: opts.workerIds.map((id) => {
        const w = byId.get(id);
        return {
          workerId: id,
          activeTasks: w && w.task !== null ? 1 : 0,
          lastTaskAt: w && w.lastTaskAt !== null ? this.toIso(w.lastTaskAt) : null,
        };
      }),
    };
  }
}

/**
 * Runs the real controller (policy, caps, anomaly detector, reactor, projections, event store in
 * memory) on a simulated clock against the simulated queue and the simulated provider. Everything
 * random comes from `seed`, every time from the clock, so a run is repeatable to the byte.
 */
export async function simulate(o: SimulateOptions): Promise<{ result: SimResult; store: MemoryEventStore }> {
  const { trace, config } = o;
  const t0 = trace.start.getTime();
  // cycles fall on wall-clock multiples of the interval (:00 and :30 for 30 s), the first one at
  // or before the first arrival, whatever second the trace starts on
  const stepMs = config.POLL_INTERVAL_SEC * 1000;
  const firstCycleMs = cycleSlotAtOrBefore(t0, stepMs);
  const clock = new FakeClock(new Date(firstCycleMs));
  const idRandom = seededRandom(o.seed ^ 0x5eed);
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(idRandom() * 16).toString(16)).join('');
  const newId = () =>
    `${hex(8)}-${hex(4)}-4${hex(3)}-${(8 + Math.floor(idRandom() * 4)).toString(16)}${hex(3)}-${hex(12)}`;
  const store = new MemoryEventStore(appRegistry, { newId, now: () => clock.now() });
  const queue = new QueueModel(trace.tasks);
  const toIso = (t: number) => new Date(t0 + t * 1000).toISOString();
  const { minSec, maxSec } = o.startup;
  const provider = new SimulatedProvider({
    clock,
    startupMinSec: minSec,
    startupMaxSec: maxSec,
    failureRate: o.failureRate,
    seed: o.seed,
    unparkSuccess: o.unpark?.success ?? 0.9,
    unparkMinSec: o.unpark?.minSec ?? 10,
    unparkMaxSec: o.unpark?.maxSec ?? 30,
  });
  const system = await buildSystem({
    store,
    config,
    clock,
    log: quietLog,
    dbLogging: () => SIM_DB_LOGGING,
    provider,
    source: new QueueSource(queue, toIso),
    reactorWaitMs: 0,
    newId,
  });

  const step = config.POLL_INTERVAL_SEC;
  const lastArrival = trace.tasks.length ? trace.tasks[trace.tasks.length - 1].arrival : 0;
  // after the last task: idle workers time out, stuck spawns time out, then the run ends
  const chosen = configuredPolicy(config);
  const idleSetting = chosen.policy.idleSetting;
  const idleSec = idleSetting ? Number(chosen.settings[idleSetting]) : config.GPU_IDLE_TIMEOUT_SEC;
  const tail = idleSec + config.SPAWNING_TIMEOUT_SEC + 4 * step;
  const timeline: TimelinePoint[] = [];
  const marks: TimelineMark[] = [];
  const known = new Set<string>();
  let cycles = 0;
  let peak = 0;
  let drainedAt: number | null = null;
  // A run that cannot drain (every spawn fails, MAX_ACTIVE_GPUS=0, pods slower to start than
  // SPAWNING_TIMEOUT_SEC) would go on for ever: it ends when tasks have waited with none running
  // for stallSec, or at the horizon, past which any run with one GPU that makes progress has drained.
  const workBoundSec = trace.tasks.reduce((sum, x) => sum + x.run, 0);
  const stallSec = Math.max(3600, 2 * (config.SPAWNING_TIMEOUT_SEC + maxSec) + 10 * step);
  const horizonSec = lastArrival + workBoundSec + tail + stallSec;
  let stalledSince: number | null = null;
  let undrained: Undrained | null = null;
  let t = (firstCycleMs - t0) / 1000;
  // the queue's workers follow the provider's live pods: only those are walked, so a cycle's cost
  // does not grow with the pods the run has ever had
  const syncPods = () => {
    const seen = new Set<string>();
    for (const p of provider.liveLives()) {
      // a parked pod takes no tasks; started again, it is a worker anew (up at its new readyAt)
      const spell = p.parked[p.parked.length - 1];
      if (spell && spell[1] === null) continue;
      const id = p.workerId ?? p.podId;
      seen.add(id);
      if (!known.has(id)) {
        known.add(id);
        queue.addWorker(id, (p.readyAt - t0) / 1000);
      }
    }
    for (const id of known) {
      if (!seen.has(id)) {
        queue.removeWorker(id);
        known.delete(id);
      }
    }
    return seen.size;
  };

  for (;;) {
    queue.advanceTo(t);
    syncPods();
    const out = await system.controller.runCycle();
    await system.reactor.catchUp();
    await system.projections.catchUp();
    const live = syncPods();
    cycles++;
    peak = Math.max(peak, live);
    timeline.push({ t, queued: queue.queued, active: queue.active, workers: live });
    if (out.kind === 'decided') {
      const d = out.decision;
      if (d.decision !== 'MAINTAIN') {
        marks.push({
          t,
          kind: d.decision,
          label: `${d.decision === 'SCALE_UP' ? '+' : '-'}${d.delta} (desired ${d.desired})`,
        });
      }
      for (const a of out.anomalies) marks.push({ t, kind: 'anomaly', label: a.kind });
    }
    o.onProgress?.(Math.max(0, t), lastArrival + tail);
    if (queue.drained && drainedAt === null) drainedAt = t;
    if (drainedAt !== null && (live === 0 || t >= drainedAt + tail)) break;
    stalledSince = queue.queued > 0 && queue.active === 0 ? (stalledSince ?? t) : null;
    const stalled = stalledSince !== null && t - stalledSince >= stallSec;
    if (drainedAt === null && (stalled || t >= horizonSec)) {
      undrained = undrainedAt(stalled ? 'stalled' : 'horizon', t, stallSec, horizonSec, queue, config, o);
      break;
    }
    // the next cycle as the live service places it (a cycle takes no simulated time: one interval on)
    const next = nextCycleAt(clock.now().getTime(), stepMs);
    clock.set(new Date(next));
    t = (next - t0) / 1000;
  }

  const end = t0 + t * 1000;
  let gpuMs = 0;
  let parkedMs = 0;
  for (const p of provider.lives()) {
    const parked = p.parked.reduce((n, [from, to]) => n + ((to ?? p.terminatedAt ?? end) - from), 0);
    gpuMs += (p.terminatedAt ?? end) - p.createdAt - parked;
    parkedMs += parked;
  }
  const waits = queue.waits().sort((a, b) => a - b);
  const workBound = trace.tasks.reduce((s, x) => s + x.run, 0);
  const anomalies: Record<string, number> = {};
  let spawns = 0;
  let spawnFailures = 0;
  let terminations = 0;
  const parking = { parked: 0, unparked: 0, refused: 0, parkedPodHours: round(parkedMs / 3_600_000, 2) };
  for (const e of store.all()) {
    if (e.type === 'WorkerParked') parking.parked++;
    else if (e.type === 'WorkerUnparked') parking.unparked++;
    else if (e.type === 'WorkerUnparkRefused') parking.refused++;
    else if (e.type === 'WorkerSpawned') spawns++;
    else if (e.type === 'WorkerSpawnFailed') spawnFailures++;
    else if (e.type === 'WorkerTerminated') terminations++;
    else if (e.type === 'AnomalyDetected') {
      const kind = (e.data as { kind: string }).kind;
      anomalies[kind] = (anomalies[kind] ?? 0) + 1;
    }
  }
  const gpuSeconds = gpuMs / 1000;
  const result: SimResult = {
    policy: policyName(config),
    seed: o.seed,
    tasks: trace.tasks.length,
    undrained,
    simulatedSec: t,
    cycles,
    gpuSeconds: round(gpuSeconds, 1),
    workBoundSec: round(workBound, 1),
    ratio: workBound > 0 ? round(gpuSeconds / workBound) : 0,
    wait: {
      p50: round(percentile(waits, 50), 1),
      p95: round(percentile(waits, 95), 1),
      p99: round(percentile(waits, 99), 1),
      max: round(waits.length ? waits[waits.length - 1] : 0, 1),
      mean: round(waits.length ? waits.reduce((a, b) => a + b, 0) / waits.length : 0, 1),
    },
    sloSec: o.sloSec,
    overSlo: waits.length ? round(waits.filter((w) => w > o.sloSec).length / waits.length, 4) : 0,
    spawns,
    spawnFailures,
    parking,
    terminations,
    peakWorkers: peak,
    anomalies: Object.fromEntries(Object.entries(anomalies).sort(([a], [b]) => a.localeCompare(b))),
    eventsWritten: store.all().length,
    timeline,
    marks,
  };
  return { result, store };
}

export function undrainedAt(
  reason: Undrained['reason'],
  t: number,
  stallSec: number,
  horizonSec: number,
  queue: QueueModel,
  config: Config,
  o: SimulateOptions,
): Undrained {
  const left = { queued: queue.queued, running: queue.active, notArrived: queue.pendingArrivals };
  const likely = [
    o.failureRate >= 1 ? `--failure-rate ${o.failureRate}: every spawn fails` : '',
    config.MAX_ACTIVE_GPUS === 0 ? 'MAX_ACTIVE_GPUS=0: no GPU may run' : '',
    o.startup.minSec > config.SPAWNING_TIMEOUT_SEC
      ? `pods start in ${o.startup.minSec}-${o.startup.maxSec} s, over SPAWNING_TIMEOUT_SEC=${config.SPAWNING_TIMEOUT_SEC}: each is timed out before it is up`
      : '',
  ].filter(Boolean);
  const why =
    reason === 'stalled'
      ? `tasks waited with none running for ${stallSec} s`
      : `it passed its horizon (last arrival + work bound + tail + ${stallSec} s = ${horizonSec} s)`;
  const total = left.queued + left.running + left.notArrived;
  return {
    reason,
    atSec: t,
    stallSec,
    horizonSec,
    left,
    message:
      `the run cannot drain: ${why}; ended at ${t} s with ${total} task${total === 1 ? '' : 's'} left ` +
      `(${left.queued} waiting, ${left.running} running, ${left.notArrived} not yet arrived)` +
      (likely.length ? `; likely: ${likely.join('; ')}` : ''),
  };
}

/** The policy a configuration selects. */
export function policyName(config: Config): string {
  return config.POLICY;
}
