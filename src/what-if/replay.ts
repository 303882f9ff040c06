import type { EventData } from '../../events/define';
import type { ControlSettings, ScalingDecided } from '../../events/scaling';
import type { WorkerActivity } from '../../events/task-count';
import { ConfigSchema } from '../config';
import { cancelUnwanted } from '../control/cancel';
import { decide, type FleetWorker } from '../control/policy';
import { allowed, choosePolicy, policyNamed } from '../policies/index';
import type { ChosenPolicy, PastObservation } from '../policies/policy';
import { type PoolWorker, parkChoice, pickToUnpark, toRetire } from '../reactor/parking';

/**
 * what-if, pure: recorded task counts replayed through a policy with changed settings, on a model
 * of the fleet, next to what was recorded. The model: the k-th worker the what-if asks for has the
 * k-th recorded spawn's outcome (in request order, round again when it asks for more): it comes up
 * as many seconds after its request as that one took from its request cycle to the cycle that saw
 * it up, or never (a recorded spawn that never came up), or it fails (a recorded failed spawn: it
 * never holds a GPU). With no recorded spawn, a worker is up the next cycle. A worker the decision
 * terminates is gone the next cycle; active tasks are held by the most recently used workers, one
 * or more each. The fleet at the start is the record's at the window's first decision (each
 * worker's recorded request, start and last task). The circuit breaker and a lagging reactor are
 * not modelled: the what-if side does exactly what its decisions say. How far the model can be
 * trusted is measured on the same record: the replay with nothing changed (`model`).
 */

export type RecordedDecision = EventData<typeof ScalingDecided>;

export interface RecordedCycle {
  cycle: number;
  at: string;
  queued: number;
  active: number;
  /** The source's per-worker activity at this cycle, when it gave one. */
  workers?: readonly WorkerActivity[] | null;
  decision: RecordedDecision;
}

/** A worker's life in the record, as the fleet model reads it: asked for (or started from parked), up, ended. */
export interface RecordedWorker {
  workerId: string;
  /** A cold create (WorkerSpawnRequested), or a start of the parked pod (WorkerUnparked, WorkerUnparkRefused). */
  origin: 'cold' | 'unparked';
  /** The cycle that asked for it (WorkerSpawnRequested, or the start from parked), and when. */
  requestCycle: number;
  requestedAt: string;
  /** When it came up (WorkerActivated) and the cycle that saw it; null: not up in the record. */
  activeAt: string | null;
  activeCycle: number | null;
  /** The spawn call failed (WorkerSpawnFailed), or the start from parked was refused: it never held a GPU. */
  failed: boolean;
  /** When it ended (terminated, parked, or its spawn failed); null: still there at the window's end. */
  endedAt: string | null;
  /** When this life ended by parking, and when that parked spell ended (started again, refused, retired). */
  parkedAt: string | null;
  parkEndedAt: string | null;
  gpus: number | null;
}

/** How a spawn of the model turns out, taken from one recorded spawn. */
interface SpawnOutcome {
  /** The recorded worker and the cycle that asked for it. */
  workerId: string;
  requestCycle: number;
  /** Seconds from the request cycle to the cycle that saw it up; null: it never came up. */
  upAfterSec: number | null;
  failed: boolean;
}

/** The settings every policy shares, which --set may change too. */
export const CONTROL_KEYS = [
  'MAX_WORKERS',
  'MAX_ACTIVE_GPUS',
  'MAX_HOURLY_COST_USD',
  'GPU_IDLE_TIMEOUT_SEC',
  'SPAWNING_TIMEOUT_SEC',
  'WORKER_MAX_LIFETIME_SEC',
] as const satisfies readonly (keyof ControlSettings)[];
/** Parking's settings (docs/parked-pods.md), which --set may change: the record's otherwise. */
export const PARKING_KEYS = ['PARKED_MAX', 'PARKED_MAX_AGE_SEC'] as const;
type ParkingKey = (typeof PARKING_KEYS)[number];
const isParkingKey = (k: string): k is ParkingKey => (PARKING_KEYS as readonly string[]).includes(k);
type ControlKey = (typeof CONTROL_KEYS)[number];
const isControlKey = (k: string): k is ControlKey => (CONTROL_KEYS as readonly string[]).includes(k);
/** Control settings that may be off (null): `--set MAX_HOURLY_COST_USD=off`. */
const NULLABLE: readonly string[] = ['MAX_HOURLY_COST_USD', 'WORKER_MAX_LIFETIME_SEC'];

export interface WhatIfChanges {
  /** Another policy than the recorded one (its settings: defaults and --set). */
  policy?: string;
  /** KEY=VALUE texts, as given. */
  set: Record<string, string>;
}

/** `KEY=VALUE` texts into a map; a malformed one or a key given twice is an error naming it. */
export function parseSetPairs(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const m = /^([A-Za-z][A-Za-z0-9_]*)=(.*)$/.exec(p.trim());
    if (!m) throw new Error(`--set "${p}" is not KEY=VALUE (e.g. --set GPU_IDLE_TIMEOUT_SEC=600)`);
    const key = m[1].toUpperCase();
    if (key in out) throw new Error(`--set ${key} is given twice`);
    out[key] = m[2].trim();
  }
  return out;
}

/**
 * Checks every --set key and value against the policy that will run and the control settings;
 * throws naming the key and what is allowed. Returns the control settings' parsed values.
 */
export function checkChanges(policyName: string, changes: WhatIfChanges): Partial<ControlSettings> {
  const policy = policyNamed(policyName);
  const policyKeys = Object.keys(policy.settings.shape);
  const control: Partial<ControlSettings> = {};
  const policyValues: Record<string, string> = {};
  for (const [key, value] of Object.entries(changes.set)) {
    if (isControlKey(key)) {
      if ((key === 'MAX_HOURLY_COST_USD' || key === 'WORKER_MAX_LIFETIME_SEC') && /^(off|none|unset)$/i.test(value)) {
        control[key] = null;
        continue;
      }
      const res = ConfigSchema.shape[key].safeParse(value);
      if (!res.success || typeof res.data !== 'number') {
        const issue = res.success ? 'expected a number' : allowed(res.error.issues[0]);
        throw new Error(`--set ${key}=${value} is not allowed: ${issue}${NULLABLE.includes(key) ? ' (or off)' : ''}`);
      }
      control[key] = res.data;
    } else if (isParkingKey(key)) {
      const res = ConfigSchema.shape[key].safeParse(value);
      if (!res.success) throw new Error(`--set ${key}=${value} is not allowed: ${allowed(res.error.issues[0])}`);
    } else if (policyKeys.includes(key)) {
      policyValues[key] = value;
    } else {
      throw new Error(
        `--set ${key}: not a setting of the ${policy.name} policy or of the caps; allowed: ${[...policyKeys, ...CONTROL_KEYS, ...PARKING_KEYS].join(', ')}`,
      );
    }
  }
  try {
    choosePolicy(policy.name, policyValues);
  } catch (err) {
    throw new Error(`--set: ${(err as Error).message}`);
  }
  return control;
}

/** The policy and control settings a cycle runs with: the recorded ones, changed by --policy and --set. */
export function settingsFor(
  d: RecordedDecision,
  changes: WhatIfChanges,
  control: Partial<ControlSettings>,
): { settings: ControlSettings; policy: ChosenPolicy } {
  const name = changes.policy ?? d.policy.name;
  const base: Record<string, unknown> = name === d.policy.name ? { ...d.policy.settings } : {};
  // as in the configuration: GPU_IDLE_TIMEOUT_SEC set without the policy's own idle setting fills it
  const idle = policyNamed(name).idleSetting;
  const filled =
    idle && changes.set.GPU_IDLE_TIMEOUT_SEC !== undefined && changes.set[idle] === undefined
      ? { [idle]: changes.set.GPU_IDLE_TIMEOUT_SEC }
      : {};
  return {
    settings: { ...d.settings, ...control },
    policy: choosePolicy(name, { ...base, ...withoutParking(changes.set), ...filled }),
  };
}

const withoutParking = (set: Record<string, string>) =>
  Object.fromEntries(Object.entries(set).filter(([k]) => !isParkingKey(k)));

/** How the model parks: PARKED_MAX and PARKED_MAX_AGE_SEC, and where each came from. */
export interface ParkingModel {
  max: number;
  maxAgeSec: number;
  from: { max: 'set' | 'record' | 'default'; maxAgeSec: 'set' | 'record' | 'default' };
}

/** PARKED_MAX and PARKED_MAX_AGE_SEC of the model: --set, else the record's, else the defaults (0: never park; 12 h). */
export function parkingModel(
  set: Record<string, string>,
  recorded: { max: number | null; maxAgeSec: number | null },
): ParkingModel {
  const pick = (key: ParkingKey, rec: number | null): [number, 'set' | 'record' | 'default'] => {
    if (set[key] !== undefined) return [Number(ConfigSchema.shape[key].parse(set[key])), 'set'];
    if (rec !== null) return [rec, 'record'];
    return [Number(ConfigSchema.shape[key].parse(undefined)), 'default'];
  };
  const [max, fromMax] = pick('PARKED_MAX', recorded.max);
  const [maxAgeSec, fromAge] = pick('PARKED_MAX_AGE_SEC', recorded.maxAgeSec);
  return { max, maxAgeSec, from: { max: fromMax, maxAgeSec: fromAge } };
}

/**
 * What the model assumes of a start from parked when the window records none: simulate's defaults
 * (`--unpark-success 0.9`, `--unpark-min-sec 10`, `--unpark-max-sec 30`).
 */
export const ASSUMED_STARTS = { success: 0.9, minSec: 10, maxSec: 30 } as const;

/** One side's figures of a cycle. */
export interface CycleSide {
  current: number;
  desired: number;
  decision: string;
  delta: number;
  gpus: number;
}

export interface CycleDiff {
  cycle: number;
  at: string;
  queued: number;
  active: number;
  recorded: CycleSide;
  whatIf: CycleSide & { math: string };
}

export interface Totals {
  /** Live workers summed over the cycles (a worker up for 10 cycles counts 10). */
  workerCycles: number;
  /** GPUs held x the time to the next cycle. */
  gpuHours: number;
  /** Workers asked for (SCALE_UP deltas). */
  spawns: number;
  /** Workers terminated by scale-down. */
  scaleDowns: number;
}

/** How far the fleet model can be trusted on this record: the replay with nothing changed. */
export interface ModelCheck {
  /** GPU-hours of the record and of the model replaying it with nothing changed. */
  recordedGpuHours: number;
  unchangedGpuHours: number;
  /** (unchanged - recorded) / recorded; 0 when nothing was recorded. */
  error: number;
  /**
   * The same without the record's per-worker activity (every task placed by the model's rule):
   * the error of the part of the model that places tasks on workers the record does not have.
   */
  modelOnlyGpuHours: number;
  modelOnlyError: number;
  /** Recorded spawns whose outcome (start-up time, never up, failed) the model's spawns take. */
  recordedSpawns: number;
  /** Their start-up times (request cycle to the cycle that saw the worker up), seconds. */
  startupSec: { median: number; max: number } | null;
  /** Cycles of the unchanged replay whose decision differs from the recorded one. */
  unchangedDiffering: number;
  /**
   * Starts from parked: the recorded ones in the window the model's starts take (how many, how many
   * refused, their start-up times), or, with none recorded, ASSUMED_STARTS (`assumed`).
   */
  starts: { recorded: number; refused: number; startupSec: { median: number; max: number } | null; assumed: boolean };
}

/** Parks, starts from parked and refused starts, on one side. */
export interface ParkingCounts {
  parks: number;
  starts: number;
  refused: number;
}

export interface WhatIfResult {
  policy: string;
  set: Record<string, string>;
  cycles: number;
  /** The cycles where the what-if decision (desired, decision or delta) differs from the recorded one. */
  differing: CycleDiff[];
  totals: { recorded: Totals; whatIf: Totals };
  /** The model's own error on this record (see ModelCheck). */
  model: ModelCheck;
  /** Parking as modelled (PARKED_MAX, PARKED_MAX_AGE_SEC and where they came from), and its counts on each side. */
  parking: ParkingModel & { recorded: ParkingCounts; whatIf: ParkingCounts };
}

interface ModelWorker {
  id: string;
  status: 'spawning' | 'active';
  requestedAt: string;
  /** When it comes up (ms since the epoch): the first cycle at or after it sees it up; null: never. */
  upAt: number | null;
  activeAt: string | null;
  lastTaskAt: string | null;
  gpus: number;
  price: number | null;
  /**
   * The recorded worker this one is (asked for by the same cycle, so with the same start-up): while
   * both are up, the record's activity of that worker is this one's. Null: a worker of the model only.
   */
  twin: string | null;
}

const zero = (): Totals => ({ workerCycles: 0, gpuHours: 0, spawns: 0, scaleDowns: 0 });

type MathOf = (d: {
  policy: { terms: { name: string; value: number; formula: string }[]; combine: string };
  desiredBeforeCaps: number;
}) => string;

/**
 * Replays `cycles` (oldest first) through the changed policy. `history`: the task counts recorded
 * before the first cycle, for policies that look back. `math`: renders a decision's policy terms.
 * `workers`: the record's workers (asked for before the window's end), whose spawns the model's
 * take their start-up times from; without them a worker is up the next cycle. The result carries
 * the model's own error on this record: the same replay with nothing changed.
 */
export function whatIf(
  cycles: readonly RecordedCycle[],
  history: readonly PastObservation[],
  changes: WhatIfChanges,
  math: MathOf,
  workers: readonly RecordedWorker[] = [],
  recordedParking: { max: number | null; maxAgeSec: number | null } = { max: null, maxAgeSec: null },
): WhatIfResult {
  const first = cycles[0];
  const policyName = changes.policy ?? first?.decision.policy.name ?? 'operators';
  const control = checkChanges(policyName, changes);
  const parking = parkingModel(changes.set, recordedParking);
  const asRecorded = parkingModel({}, recordedParking);
  const changed = replay(cycles, history, changes, control, math, workers, true, parking);
  const unchanged =
    changes.policy === undefined && Object.keys(changes.set).length === 0
      ? changed
      : replay(cycles, history, { set: {} }, {}, math, workers, true, asRecorded);
  const modelOnly = replay(cycles, history, { set: {} }, {}, math, workers, false, asRecorded);
  const outcomes = spawnOutcomes(cycles, workers);
  const starts = startOutcomes(cycles, workers);
  const stats = (xs: SpawnOutcome[]) => {
    const ups = xs
      .map((o) => o.upAfterSec)
      .filter((x): x is number => x !== null)
      .sort((a, b) => a - b);
    return ups.length ? { median: ups[Math.floor((ups.length - 1) / 2)], max: ups[ups.length - 1] } : null;
  };
  const ups = outcomes
    .map((o) => o.upAfterSec)
    .filter((x): x is number => x !== null)
    .sort((a, b) => a - b);
  const recordedGpuHours = unchanged.totals.recorded.gpuHours;
  const unchangedGpuHours = unchanged.totals.whatIf.gpuHours;
  const modelOnlyGpuHours = modelOnly.totals.whatIf.gpuHours;
  const share = (x: number) =>
    recordedGpuHours > 0 ? Math.round(((x - recordedGpuHours) / recordedGpuHours) * 1e4) / 1e4 : 0;
  return {
    policy: policyName,
    set: changes.set,
    cycles: cycles.length,
    differing: changed.differing,
    totals: changed.totals,
    model: {
      recordedGpuHours,
      unchangedGpuHours,
      error: share(unchangedGpuHours),
      modelOnlyGpuHours,
      modelOnlyError: share(modelOnlyGpuHours),
      recordedSpawns: outcomes.length,
      startupSec: ups.length ? { median: ups[Math.floor((ups.length - 1) / 2)], max: ups[ups.length - 1] } : null,
      unchangedDiffering: unchanged.differing.length,
      starts: {
        recorded: starts.length,
        refused: starts.filter((o) => o.failed).length,
        startupSec: stats(starts),
        assumed: starts.length === 0,
      },
    },
    parking: { ...parking, recorded: recordedCounts(cycles, workers), whatIf: changed.parking },
  };
}

/** The record's parks, starts from parked and refused starts within the window's cycles. */
function recordedCounts(cycles: readonly RecordedCycle[], workers: readonly RecordedWorker[]): ParkingCounts {
  if (cycles.length === 0) return { parks: 0, starts: 0, refused: 0 };
  const from = cycles[0].at;
  const to = cycles[cycles.length - 1].at;
  const within = (at: string | null) => at !== null && at >= from && at <= to;
  const starts = startOutcomes(cycles, workers);
  return {
    parks: workers.filter((w) => within(w.parkedAt)).length,
    starts: starts.filter((o) => !o.failed).length,
    refused: starts.filter((o) => o.failed).length,
  };
}

/**
 * The recorded spawns asked for within the window, in request order, as outcomes the model's
 * spawns take: the seconds from the request cycle to the cycle that saw the worker up (both as
 * the cycles recorded them, so a cycle's few milliseconds of work do not move it by a cycle).
 */
function spawnOutcomes(
  cycles: readonly RecordedCycle[],
  workers: readonly RecordedWorker[],
  origin: RecordedWorker['origin'] = 'cold',
): SpawnOutcome[] {
  if (cycles.length === 0) return [];
  const atOf = new Map(cycles.map((c) => [c.cycle, Date.parse(c.at)]));
  const firstCycle = cycles[0].cycle;
  return workers
    .filter((w) => w.origin === origin && w.requestCycle >= firstCycle && atOf.has(w.requestCycle))
    .sort((a, b) => a.requestCycle - b.requestCycle || a.requestedAt.localeCompare(b.requestedAt))
    .map((w) => ({
      workerId: w.workerId,
      requestCycle: w.requestCycle,
      upAfterSec: upAfterSec(w, atOf),
      failed: w.failed,
    }));
}

/**
 * The recorded starts from parked within the window, in order, as outcomes the model's starts take:
 * refused (`failed`), or the seconds from the start's cycle to the cycle that saw the worker up.
 */
const startOutcomes = (cycles: readonly RecordedCycle[], workers: readonly RecordedWorker[]) =>
  spawnOutcomes(cycles, workers, 'unparked');

/** The k-th start from parked (0-based) as ASSUMED_STARTS has it: refusals spread evenly, times spread over the range. */
function assumedStart(k: number): { failed: boolean; upAfterSec: number } {
  const { success, minSec, maxSec } = ASSUMED_STARTS;
  const refusedBy = (n: number) => Math.floor(Math.round(n * (1 - success) * 1e9) / 1e9);
  const spread = ((k + 0.5) * 0.6180339887) % 1;
  return { failed: refusedBy(k + 1) > refusedBy(k), upAfterSec: minSec + (maxSec - minSec) * spread };
}

/** Seconds from a recorded worker's request cycle to the cycle that saw it up (null: never up). */
function upAfterSec(w: RecordedWorker, atOf: ReadonlyMap<number, number>): number | null {
  if (w.failed || w.activeAt === null) return null;
  const requested = atOf.get(w.requestCycle) ?? Date.parse(w.requestedAt);
  const up = (w.activeCycle !== null ? atOf.get(w.activeCycle) : undefined) ?? Date.parse(w.activeAt);
  return Math.max(0, (up - requested) / 1000);
}

function replay(
  cycles: readonly RecordedCycle[],
  history: readonly PastObservation[],
  changes: WhatIfChanges,
  control: Partial<ControlSettings>,
  math: MathOf,
  workers: readonly RecordedWorker[],
  /** A worker of the model that is a recorded one holds what the record says it held. */
  recordedActivity: boolean,
  parking: ParkingModel,
): { differing: CycleDiff[]; totals: { recorded: Totals; whatIf: Totals }; parking: ParkingCounts } {
  const result = {
    differing: [] as CycleDiff[],
    totals: { recorded: zero(), whatIf: zero() },
    parking: { parks: 0, starts: 0, refused: 0 },
  };
  const first = cycles[0];
  if (!first) return result;
  const atOf = new Map(cycles.map((c) => [c.cycle, Date.parse(c.at)]));
  const outcomes = spawnOutcomes(cycles, workers);
  const starts = startOutcomes(cycles, workers);
  let spawned = 0;
  let started = 0;
  // a recorded outcome asked for by this very cycle is taken first (that worker is this one: its twin)
  const usedSpawns = new Set<number>();
  const usedStarts = new Set<number>();
  const take = (list: SpawnOutcome[], used: Set<number>, k: number, cycle: number) => {
    const same = list.findIndex((o, i) => !used.has(i) && o.requestCycle === cycle);
    if (same >= 0) {
      used.add(same);
      return { o: list[same], twin: list[same].workerId };
    }
    if (list.length === 0) return { o: undefined, twin: null };
    return { o: list[k % list.length], twin: null };
  };

  let seq = 0;
  /** The desired count of the model's last decision (a spawn is cancelled after two cycles of lower demand). */
  let previousDesired: number | null = null;
  const d0 = first.decision;
  // the fleet at the start: the record's workers asked for before the first cycle and not ended by it
  const firstMs = Date.parse(first.at);
  const before = workers.filter(
    (w) => w.requestCycle < first.cycle && !w.failed && (w.endedAt === null || Date.parse(w.endedAt) >= firstMs),
  );
  const lastTask = new Map((first.workers ?? []).map((a) => [a.workerId, a.lastTaskAt]));
  let fleet: ModelWorker[];
  if (before.length === d0.current.total) {
    fleet = before.map((w) => {
      const upAt =
        w.activeAt === null
          ? null
          : ((w.activeCycle !== null ? atOf.get(w.activeCycle) : undefined) ?? Date.parse(w.activeAt));
      const up = upAt !== null && upAt <= firstMs;
      return {
        id: w.workerId,
        status: up ? 'active' : 'spawning',
        requestedAt: w.requestedAt,
        upAt,
        activeAt: up ? w.activeAt : null,
        lastTaskAt: lastTask.get(w.workerId) ?? null,
        gpus: w.gpus ?? d0.gpusPerWorker,
        price: null,
        twin: w.workerId,
      };
    });
  } else {
    // the record's workers are not at hand (or do not add up): the decision's counts, up since the first cycle
    const counted = (status: ModelWorker['status']): ModelWorker => ({
      id: `what-if-${++seq}`,
      status,
      requestedAt: first.at,
      upAt: status === 'active' ? firstMs : null,
      activeAt: status === 'active' ? first.at : null,
      lastTaskAt: null,
      gpus: d0.gpusPerWorker,
      price: null,
      twin: null,
    });
    fleet = [
      ...Array.from({ length: d0.current.active }, () => counted('active')),
      ...Array.from({ length: d0.current.spawning }, () => counted('spawning')),
    ];
  }
  // the parked pool at the start: the record's pods parked before the first cycle and still parked then
  let parkSeq = 0;
  let parked: { w: ModelWorker; parkedAt: string; position: number }[] = workers
    .filter(
      (w) =>
        w.parkedAt !== null &&
        Date.parse(w.parkedAt) < firstMs &&
        (w.parkEndedAt === null || Date.parse(w.parkEndedAt) >= firstMs),
    )
    .map((w) => ({
      w: {
        id: w.workerId,
        status: 'spawning',
        requestedAt: w.requestedAt,
        upAt: null,
        activeAt: null,
        lastTaskAt: null,
        gpus: w.gpus ?? d0.gpusPerWorker,
        price: null,
        twin: w.workerId,
      },
      parkedAt: w.parkedAt as string,
      position: ++parkSeq,
    }));
  const observed: PastObservation[] = [...history];

  cycles.forEach((c, i) => {
    const rec = c.decision;
    const next = cycles[i + 1];
    const prev = cycles[i - 1];
    const hours = next
      ? (Date.parse(next.at) - Date.parse(c.at)) / 3_600_000
      : prev
        ? (Date.parse(c.at) - Date.parse(prev.at)) / 3_600_000
        : 0;

    // the model's fleet at this cycle: workers whose start-up has passed are up
    const nowMs = Date.parse(c.at);
    for (const w of fleet) {
      if (w.status === 'spawning' && w.upAt !== null && w.upAt <= nowMs && w.requestedAt < c.at) {
        w.status = 'active';
        w.activeAt = c.at;
      }
    }
    // Active tasks: a worker that is a recorded one holds what the record says it held; the other
    // active tasks are held by the most recently used of the other workers, one or more each, and
    // the other recorded workers' tasks that ended since the last cycle end on the next most
    // recently used ones (a task shorter than a cycle shows in no count, only in a lastTaskAt).
    const heldInRecord = new Map(recordedActivity ? (c.workers ?? []).map((a) => [a.workerId, a]) : []);
    const up = fleet
      .filter((w) => w.status === 'active')
      .sort(
        (a, b) =>
          (b.lastTaskAt ?? b.activeAt ?? '').localeCompare(a.lastTaskAt ?? a.activeAt ?? '') ||
          a.id.localeCompare(b.id),
      );
    const asRecorded = new Map<string, WorkerActivity>();
    let heldAsRecorded = 0;
    for (const w of up) {
      const a = w.twin !== null ? heldInRecord.get(w.twin) : undefined;
      if (!a) continue;
      asRecorded.set(w.id, a);
      heldAsRecorded += a.activeTasks;
      if (a.lastTaskAt !== null && (w.lastTaskAt === null || a.lastTaskAt > w.lastTaskAt)) w.lastTaskAt = a.lastTaskAt;
    }
    const others = up.filter((w) => !asRecorded.has(w.id));
    const left = Math.max(0, c.active - heldAsRecorded);
    const holders = others.slice(0, Math.min(left, others.length));
    const twins = new Set([...asRecorded.values()].map((a) => a.workerId));
    const since = prev?.at ?? '';
    const ended = (c.workers ?? [])
      .filter(
        (a) =>
          !twins.has(a.workerId) &&
          a.activeTasks === 0 &&
          a.lastTaskAt !== null &&
          a.lastTaskAt > since &&
          a.lastTaskAt <= c.at,
      )
      .map((a) => a.lastTaskAt as string)
      .sort()
      .reverse();
    others.slice(holders.length, holders.length + ended.length).forEach((w, k) => {
      if (w.lastTaskAt === null || ended[k] > w.lastTaskAt) w.lastTaskAt = ended[k];
    });
    const share = (k: number) =>
      k < holders.length ? Math.floor(left / holders.length) + (k < left % holders.length ? 1 : 0) : 0;
    const rank = new Map(others.map((w, k) => [w.id, k]));
    // a source that could not tell which worker holds what (null) is replayed as such
    const activity: WorkerActivity[] | null =
      c.workers === null
        ? null
        : up.map((w) => ({
            workerId: w.id,
            activeTasks: asRecorded.get(w.id)?.activeTasks ?? share(rank.get(w.id) ?? up.length),
            lastTaskAt: w.lastTaskAt,
          }));

    const { settings, policy } = settingsFor(rec, changes, control);
    const lookbackMs = policy.policy.lookbackSec(policy.settings) * 1000;
    const now = new Date(c.at);
    const recent = observed.filter((o) => o.at < c.at && Date.parse(o.at) >= now.getTime() - lookbackMs);
    const fleetView: FleetWorker[] = fleet.map((w) => ({
      workerId: w.id,
      podId: null,
      status: w.status,
      requestedAt: w.requestedAt,
      activeAt: w.activeAt,
      gpus: w.gpus,
      hourlyCostUsd: w.price ?? rec.quoteUsdPerHour,
    }));
    // the policy, then the spawns no longer wanted cancelled, as the controller does
    const r = cancelUnwanted({
      now,
      decision: decide({
        now,
        cycle: c.cycle,
        queued: c.queued,
        active: c.active,
        activity,
        fleet: fleetView,
        settings,
        policy,
        recent,
        gpusPerWorker: rec.gpusPerWorker,
        quoteUsdPerHour: rec.quoteUsdPerHour,
      }),
      fleet: fleetView,
      activity,
      previousDesired,
    });
    previousDesired = r.desired;

    const modelGpus = fleet.reduce((n, w) => n + w.gpus, 0);
    const recorded: CycleSide = {
      current: rec.current.total,
      desired: rec.desired,
      decision: rec.decision,
      delta: rec.delta,
      gpus: rec.currentGpus ?? rec.current.total * rec.gpusPerWorker,
    };
    const mine: CycleSide = {
      current: r.current.total,
      desired: r.desired,
      decision: r.decision,
      delta: r.delta,
      gpus: modelGpus,
    };
    add(result.totals.recorded, recorded, hours);
    add(result.totals.whatIf, mine, hours);
    if (recorded.desired !== mine.desired || recorded.decision !== mine.decision || recorded.delta !== mine.delta) {
      result.differing.push({
        cycle: c.cycle,
        at: c.at,
        queued: c.queued,
        active: c.active,
        recorded,
        whatIf: { ...mine, math: math(r) },
      });
    }

    // act on it, as the reactor would: parked pods retired first (past PARKED_MAX_AGE_SEC, beyond PARKED_MAX)
    for (const w of holders) w.lastTaskAt = c.at;
    const pool = (): PoolWorker[] =>
      parked.map((p) => ({
        workerId: p.w.id,
        podId: p.w.id,
        status: 'parked',
        parkedAt: p.parkedAt,
        unparks: 0,
        unparkSlot: null,
        hourlyCostUsd: null,
        position: p.position,
      }));
    const retired = new Set(toRetire(pool(), now, { ...parking, hourlyUsd: null }).map((x) => x.worker.workerId));
    parked = parked.filter((p) => !retired.has(p.w.id));
    // a worker let go for idleness is parked while fewer than PARKED_MAX are
    for (const t of r.decision === 'SCALE_DOWN' ? r.terminate : []) {
      const w = fleet.find((x) => x.id === t.workerId);
      const choice = parkChoice(
        { ...parking, hourlyUsd: null },
        { parkedNow: parked.length, providerParks: true, hasPod: true },
      );
      if (!w || !choice.park) continue;
      parked.push({ w, parkedAt: c.at, position: ++parkSeq });
      result.parking.parks++;
    }
    const gone = new Set([...r.terminate, ...r.timedOut, ...r.expired, ...(r.cancel ?? [])].map((t) => t.workerId));
    fleet = fleet.filter((w) => !gone.has(w.id));
    if (r.decision === 'SCALE_UP') {
      for (let k = 0; k < r.delta; k++) {
        // workers wanted start parked pods first, the most recently parked first; a refused start
        // ends that pod and falls through to a cold create
        const pick = pickToUnpark(pool(), null);
        if (pick) {
          parked = parked.filter((p) => p.w.id !== pick.workerId);
          const { o: recorded, twin } = take(starts, usedStarts, started, c.cycle);
          const o = recorded ?? assumedStart(started);
          started++;
          if (o.failed) result.parking.refused++;
          else {
            result.parking.starts++;
            fleet.push({
              id: pick.workerId,
              status: 'spawning',
              requestedAt: c.at,
              upAt: o.upAfterSec === null ? null : nowMs + o.upAfterSec * 1000,
              activeAt: null,
              lastTaskAt: null,
              gpus: rec.gpusPerWorker,
              price: rec.quoteUsdPerHour,
              twin,
            });
            continue;
          }
        }
        const { o, twin } = take(outcomes, usedSpawns, spawned, c.cycle);
        spawned++;
        if (o?.failed) continue; // it never held a GPU
        const upAfter = o ? o.upAfterSec : 0;
        fleet.push({
          id: `what-if-${++seq}`,
          status: 'spawning',
          requestedAt: c.at,
          upAt: upAfter === null ? null : nowMs + upAfter * 1000,
          activeAt: null,
          lastTaskAt: null,
          gpus: rec.gpusPerWorker,
          price: rec.quoteUsdPerHour,
          twin,
        });
      }
    }
    observed.push({ at: c.at, queued: c.queued, active: c.active });
  });
  result.totals.recorded.gpuHours = round(result.totals.recorded.gpuHours);
  result.totals.whatIf.gpuHours = round(result.totals.whatIf.gpuHours);
  return result;
}

function add(t: Totals, s: CycleSide, hours: number): void {
  t.workerCycles += s.current;
  t.gpuHours += s.gpus * hours;
  if (s.decision === 'SCALE_UP') t.spawns += s.delta;
  if (s.decision === 'SCALE_DOWN') t.scaleDowns += s.delta;
}

const round = (x: number) => Math.round(x * 1000) / 1000;
