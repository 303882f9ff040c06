import type { EventData } from '../../events/define';
import type { ControlSettings, ScalingDecided } from '../../events/scaling';
import type { WorkerActivity } from '../../events/task-count';
import { ConfigSchema } from '../config';
import { decide, type FleetWorker } from '../control/policy';
import { allowed, choosePolicy, policyNamed } from '../policies/index';
import type { ChosenPolicy, PastObservation } from '../policies/policy';

/**
 * what-if, pure: recorded task counts replayed through a policy with changed settings, on a model
 * of the fleet, next to what was recorded. The model: a worker asked for in a cycle is up the next
 * cycle; a worker the decision terminates is gone the next cycle; active tasks are held by the
 * most recently used workers, one or more each. The fleet at the start is the first recorded
 * decision's (its workers counted as up since then). Spawn failures, the circuit breaker and a
 * lagging reactor are not modelled: the what-if side does exactly what its decisions say.
 */

export type RecordedDecision = EventData<typeof ScalingDecided>;

export interface RecordedCycle {
  cycle: number;
  at: string;
  queued: number;
  active: number;
  decision: RecordedDecision;
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
    } else if (policyKeys.includes(key)) {
      policyValues[key] = value;
    } else {
      throw new Error(
        `--set ${key}: not a setting of the ${policy.name} policy or of the caps; allowed: ${[...policyKeys, ...CONTROL_KEYS].join(', ')}`,
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
  return {
    settings: { ...d.settings, ...control },
    policy: choosePolicy(name, { ...base, ...changes.set }),
  };
}

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

export interface WhatIfResult {
  policy: string;
  set: Record<string, string>;
  cycles: number;
  /** The cycles where the what-if decision (desired, decision or delta) differs from the recorded one. */
  differing: CycleDiff[];
  totals: { recorded: Totals; whatIf: Totals };
}

interface ModelWorker {
  id: string;
  status: 'spawning' | 'active';
  requestedAt: string;
  activeAt: string | null;
  lastTaskAt: string | null;
  gpus: number;
  price: number | null;
}

const zero = (): Totals => ({ workerCycles: 0, gpuHours: 0, spawns: 0, scaleDowns: 0 });

/**
 * Replays `cycles` (oldest first) through the changed policy. `history`: the task counts recorded
 * before the first cycle, for policies that look back. `math`: renders a decision's policy terms.
 */
export function whatIf(
  cycles: readonly RecordedCycle[],
  history: readonly PastObservation[],
  changes: WhatIfChanges,
  math: (d: {
    policy: { terms: { name: string; value: number; formula: string }[]; combine: string };
    desiredBeforeCaps: number;
  }) => string,
): WhatIfResult {
  const first = cycles[0];
  const policyName = changes.policy ?? first?.decision.policy.name ?? 'operators';
  const control = checkChanges(policyName, changes);
  const result: WhatIfResult = {
    policy: policyName,
    set: changes.set,
    cycles: cycles.length,
    differing: [],
    totals: { recorded: zero(), whatIf: zero() },
  };
  if (!first) return result;

  let seq = 0;
  const newWorker = (status: ModelWorker['status'], at: string, gpus: number, price: number | null): ModelWorker => ({
    id: `what-if-${++seq}`,
    status,
    requestedAt: at,
    activeAt: status === 'active' ? at : null,
    lastTaskAt: null,
    gpus,
    price,
  });
  const d0 = first.decision;
  let fleet: ModelWorker[] = [
    ...Array.from({ length: d0.current.active }, () => newWorker('active', first.at, d0.gpusPerWorker, null)),
    ...Array.from({ length: d0.current.spawning }, () => newWorker('spawning', first.at, d0.gpusPerWorker, null)),
  ];
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

    // the model's fleet at this cycle: workers asked for earlier are up
    for (const w of fleet) {
      if (w.status === 'spawning' && w.requestedAt < c.at) {
        w.status = 'active';
        w.activeAt = c.at;
      }
    }
    // active tasks are held by the most recently used workers
    const up = fleet
      .filter((w) => w.status === 'active')
      .sort(
        (a, b) =>
          (b.lastTaskAt ?? b.activeAt ?? '').localeCompare(a.lastTaskAt ?? a.activeAt ?? '') ||
          a.id.localeCompare(b.id),
      );
    const holders = up.slice(0, Math.min(c.active, up.length));
    const activity: WorkerActivity[] = up.map((w, k) => ({
      workerId: w.id,
      activeTasks:
        k < holders.length ? Math.floor(c.active / holders.length) + (k < c.active % holders.length ? 1 : 0) : 0,
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
    const r = decide({
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
    });

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

    // act on it, as the reactor would
    for (const w of holders) w.lastTaskAt = c.at;
    const gone = new Set([...r.terminate, ...r.timedOut, ...r.expired].map((t) => t.workerId));
    fleet = fleet.filter((w) => !gone.has(w.id));
    if (r.decision === 'SCALE_UP') {
      for (let k = 0; k < r.delta; k++) fleet.push(newWorker('spawning', c.at, rec.gpusPerWorker, rec.quoteUsdPerHour));
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
