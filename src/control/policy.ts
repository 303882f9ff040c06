import type { OverrideInForce } from '../../events/operator';
import type {
  AllocationRecord,
  AppliedLimit,
  ControlSettings,
  Decision,
  LimitUnit,
  PolicyRecord,
  TerminationPick,
} from '../../events/scaling';
import type { Mode } from '../../events/shadow';
import type { WorkerActivity } from '../../events/task-count';
import { secondsBetween } from '../clock';
import { recordedSettings } from '../policies/index';
import type { ChosenPolicy, PastObservation } from '../policies/policy';
import { DRAIN_LIMIT, limitReason } from '../policies/render';
import { type BudgetInput, poolShare } from '../pools/share';

/** A worker as the policy sees it (from the workers projection). */
export interface FleetWorker {
  workerId: string;
  podId: string | null;
  status: 'spawning' | 'active' | 'terminating';
  requestedAt: string;
  activeAt: string | null;
  /** GPUs this worker takes, as recorded when it was asked for; null: not recorded (count the provider's). */
  gpus: number | null;
  /** USD per hour it was placed at; null when unknown. */
  hourlyCostUsd: number | null;
}

export interface PolicyInput {
  now: Date;
  queued: number;
  active: number;
  /** Per-worker activity from the task source, or null when it cannot tell. */
  activity: WorkerActivity[] | null;
  fleet: FleetWorker[];
  /** The settings every policy shares: the caps, idle timeout, spawning timeout, lifetime. */
  settings: ControlSettings;
  /** The policy that decides (POLICY) with its settings. */
  policy: ChosenPolicy;
  /** The cycle's number (the policy's view). */
  cycle?: number;
  /** Earlier observations within the policy's lookbackSec, oldest first (from the record). */
  recent?: readonly PastObservation[];
  /** GPUs one new worker takes (provider.gpusPerWorker); also what a worker recorded without a count takes. */
  gpusPerWorker: number;
  /** USD per hour one more worker would cost (provider.quote()); null: unknown or not asked. */
  quoteUsdPerHour: number | null;
  /** An operator's drain in force, in its words: desired 0 (a cap after the others), idle workers go as soon as idle. */
  drain?: string | null;
  /**
   * The global budget (GLOBAL_MAX_*) and what the other pools claim: the pool's share caps its
   * desired count after its own caps (src/pools/share.ts). Absent: no global cap.
   */
  budget?: { pool: string; input: BudgetInput } | null;
}

export interface PolicyResult {
  total: number;
  current: { active: number; spawning: number; total: number };
  busy: number;
  idle: number;
  /** The policy that decided: name, settings, terms and how they combine into desiredBeforeCaps. */
  policy: PolicyRecord;
  desiredBeforeCaps: number;
  requested: number;
  limits: AppliedLimit[];
  desired: number;
  decision: Decision;
  delta: number;
  terminate: TerminationPick[];
  timedOut: TerminationPick[];
  expired: TerminationPick[];
  spawnBlocked: string | null;
  reasons: string[];
  gpusPerWorker: number;
  /** GPUs of the live fleet (incl. workers being terminated: they hold their GPUs until they end). */
  currentGpus: number;
  /** The live fleet's burn, USD per hour; null when a worker's price is unknown. */
  burnUsdPerHour: number | null;
  quoteUsdPerHour: number | null;
  /** The operators' overrides in force this cycle (src/control/overrides.ts). */
  overrides?: OverrideInForce[];
  /** Spawning workers no longer wanted (src/control/cancel.ts, a step after the policy); absent: none. */
  cancel?: TerminationPick[];
  /** MODE the decision was made in (set by the controller); absent: active. */
  mode?: Mode;
  /** How the global caps were shared this cycle (null or absent: no global cap). */
  allocation?: AllocationRecord | null;
}

const usd = (x: number) => x.toFixed(2);
const gpusOf = (w: FleetWorker, g: number) => w.gpus ?? g;

/**
 * One cycle's decision as a pure function: the chosen policy (src/policies) says how many workers
 * it wants, in workers of G GPUs (the provider's gpusPerWorker); then, for every policy alike, the
 * caps: MAX_WORKERS, the hard GPU budget MAX_ACTIVE_GPUS (GPUs: each worker counts its own GPUs),
 * then MAX_HOURLY_COST_USD. Scale-down only removes workers idle for GPU_IDLE_TIMEOUT_SEC (or the
 * policy's own scaleDownIdle, when it gives one), least
 * recently used first, and never one that holds a task (when the source can tell). Workers stuck in
 * spawning past SPAWNING_TIMEOUT_SEC, or past WORKER_MAX_LIFETIME_SEC, are listed for termination.
 */
/** The reason that says how many workers over desired are kept, after its count. */
const KEPT = ' worker(s) over desired kept:';

/**
 * The reasons with `n` fewer workers kept over desired (a later step, cancel.ts, terminated them):
 * the count lowered, or the reason dropped when none is kept.
 */
export function fewerKept(reasons: readonly string[], n: number): string[] {
  return reasons.flatMap((r) => {
    const m = /^(\d+)(.*)$/.exec(r);
    if (!m?.[2].startsWith(KEPT)) return [r];
    const kept = Number(m[1]) - n;
    return kept > 0 ? [`${kept}${m[2]}`] : [];
  });
}

export function decide(input: PolicyInput): PolicyResult {
  const s = input.settings;
  const reasons: string[] = [];
  const total = input.queued + input.active;

  const g = input.gpusPerWorker;
  const timedOut: TerminationPick[] = [];
  const expired: TerminationPick[] = [];
  const live: FleetWorker[] = [];
  const terminating: FleetWorker[] = [];
  for (const w of input.fleet) {
    if (w.status === 'terminating') {
      terminating.push(w);
      continue;
    }
    const lifetime = s.WORKER_MAX_LIFETIME_SEC;
    const ageSec = secondsBetween(w.activeAt ?? w.requestedAt, input.now);
    if (lifetime !== null && w.status === 'active' && ageSec > lifetime) {
      expired.push({
        workerId: w.workerId,
        podId: w.podId,
        idleSec: null,
        reason: `active for ${ageSec}s > WORKER_MAX_LIFETIME_SEC=${lifetime}`,
      });
      continue;
    }
    const spawningSec = secondsBetween(w.requestedAt, input.now);
    if (w.status === 'spawning' && spawningSec > s.SPAWNING_TIMEOUT_SEC) {
      timedOut.push({
        workerId: w.workerId,
        podId: w.podId,
        idleSec: null,
        reason: `spawning for ${spawningSec}s > SPAWNING_TIMEOUT_SEC=${s.SPAWNING_TIMEOUT_SEC}`,
      });
      continue;
    }
    live.push(w);
  }
  if (timedOut.length) reasons.push(`${timedOut.length} worker(s) stuck in spawning: terminated and counted as failed`);
  if (expired.length) reasons.push(`${expired.length} worker(s) past WORKER_MAX_LIFETIME_SEC: terminated`);

  const activeWorkers = live.filter((w) => w.status === 'active');
  const current = {
    active: activeWorkers.length,
    spawning: live.length - activeWorkers.length,
    total: live.length,
  };

  // Busy workers: from per-worker activity when the source can tell, else bounded by active tasks.
  const byWorker = new Map((input.activity ?? []).map((a) => [a.workerId, a]));
  const busy = input.activity
    ? activeWorkers.filter((w) => (byWorker.get(w.workerId)?.activeTasks ?? 0) > 0).length
    : Math.min(input.active, current.active);
  const idle = current.active - busy;

  // What the fleet holds: live workers and those being terminated (they bill until they end).
  const account = fleetAccount(live, terminating, g, input.quoteUsdPerHour);
  const { currentGpus, burnUsdPerHour } = account;

  // The policy: how many workers it wants, before the caps.
  const { policy: chosen } = input;
  const wanted = chosen.policy.decide(
    {
      now: input.now,
      cycle: input.cycle ?? 0,
      queued: input.queued,
      active: input.active,
      workers: { ...current, busy, idle },
      gpusPerWorker: g,
      recent: input.recent ?? [],
    },
    chosen.settings,
  );
  const desiredBeforeCaps = Math.max(0, Math.ceil(wanted.desired));
  const policy: PolicyRecord = {
    name: chosen.policy.name,
    settings: recordedSettings(chosen),
    terms: wanted.terms,
    combine: wanted.combine,
    ...(wanted.scaleDownIdle ? { scaleDownIdle: wanted.scaleDownIdle } : {}),
  };
  // How long a worker must be idle before it may go: the policy's own idle time, else GPU_IDLE_TIMEOUT_SEC.
  const idleRule = input.drain
    ? { sec: 0, setting: DRAIN_LIMIT }
    : (wanted.scaleDownIdle ?? { sec: s.GPU_IDLE_TIMEOUT_SEC, setting: 'GPU_IDLE_TIMEOUT_SEC' });
  const idleRuleText = `${idleRule.setting}=${idleRule.sec}`;
  reasons.push(...wanted.reasons);
  // The policy's own floors, then the caps in order, each on what the one before left.
  const limits: AppliedLimit[] = (wanted.floors ?? []).map((f) => ({ ...f, kind: 'floor' as const }));
  let desired = desiredBeforeCaps;
  let requested = desiredBeforeCaps;
  for (const cap of CAPS) {
    const value = cap.value(s);
    if (value === null) continue;
    const cut = cap.apply(desired, value, account);
    if (cut) {
      limits.push({ name: cap.name, kind: 'cap', unit: cap.unit, value, from: desired, to: cut.to, ...cut.extra });
      desired = cut.to;
    }
    if (cap.name === 'MAX_WORKERS') requested = desired;
  }
  // One budget across pools: the pool's share of the global caps, after its own caps
  const shared = input.budget
    ? poolShare(input.budget.input, input.budget.pool, desired, input.quoteUsdPerHour, account.liveWorkers)
    : null;
  for (const { to, ...limit } of shared?.limits ?? []) {
    limits.push({ ...limit, kind: 'cap', from: desired, to });
    desired = to;
  }
  if (input.drain && desired > 0) {
    limits.push({
      name: DRAIN_LIMIT,
      kind: 'cap',
      unit: 'workers',
      value: 0,
      from: desired,
      to: 0,
      detail: input.drain,
    });
    desired = 0;
  }

  let decision: Decision = 'MAINTAIN';
  let delta = 0;
  const terminate: TerminationPick[] = [];
  if (desired > current.total) {
    decision = 'SCALE_UP';
    delta = desired - current.total;
    reasons.push(spawnReason(desired, current.total, delta));
  } else if (desired < current.total) {
    const excess = current.total - desired;
    const candidates = activeWorkers
      .map((w) => {
        const a = byWorker.get(w.workerId);
        const holdsTask = a ? a.activeTasks > 0 : false;
        // Idle since the later of "became active" and "last finished a task"; never since a heartbeat.
        const since =
          [w.activeAt, a?.lastTaskAt ?? null]
            .filter((x): x is string => !!x)
            .sort()
            .pop() ?? w.requestedAt;
        return { w, holdsTask, idleSec: secondsBetween(since, input.now) };
      })
      .filter((c) => !c.holdsTask);
    const unknownHolders = input.activity ? 0 : Math.min(input.active, current.active);
    const eligible = candidates
      .filter((c) => c.idleSec >= idleRule.sec)
      .sort((a, b) => b.idleSec - a.idleSec || a.w.workerId.localeCompare(b.w.workerId));
    // Without per-worker activity, keep enough workers for the active tasks.
    const removable = Math.max(0, Math.min(excess, eligible.length, current.active - unknownHolders));
    for (const c of eligible.slice(0, removable)) {
      terminate.push({
        workerId: c.w.workerId,
        podId: c.w.podId,
        idleSec: c.idleSec,
        reason: input.drain
          ? `idle ${c.idleSec}s, draining (no idle timeout)`
          : `idle ${c.idleSec}s >= ${idleRuleText}`,
      });
    }
    if (terminate.length > 0) {
      decision = 'SCALE_DOWN';
      delta = terminate.length;
      reasons.push(
        `desired ${desired} < current ${current.total}: terminate ${delta} idle worker(s), least recently used first`,
      );
    }
    if (terminate.length < excess) {
      reasons.push(
        `${excess - terminate.length}${KEPT} ${
          input.drain
            ? 'draining, but still spawning or holding a task'
            : `not idle for ${idleRuleText}s, still spawning, or holding a task`
        }`,
      );
    }
  } else {
    reasons.push(`desired ${desired} = current ${current.total}`);
  }
  for (const l of limits) {
    reasons.push(
      `${l.name === DRAIN_LIMIT ? DRAIN_LIMIT : `${l.name}=${l.value}`} changed desired from ${l.from} to ${l.to}`,
    );
    if (l.detail) reasons.push(limitReason(l));
  }

  return {
    total,
    current,
    busy,
    idle,
    policy,
    desiredBeforeCaps,
    requested,
    limits,
    desired,
    decision,
    delta,
    terminate,
    timedOut,
    expired,
    spawnBlocked: null,
    reasons,
    gpusPerWorker: g,
    currentGpus,
    burnUsdPerHour,
    quoteUsdPerHour: input.quoteUsdPerHour,
    allocation: shared?.allocation ?? null,
  };
}

/** The fleet as the caps count it: its workers, GPUs and burn, and one more worker's price. */
export interface FleetAccount {
  gpusPerWorker: number;
  /** Live workers (not being terminated). */
  liveWorkers: number;
  /** GPUs of the live fleet and of workers being terminated (they hold theirs until they end). */
  currentGpus: number;
  /** GPUs of the workers being terminated. */
  heldByOthers: number;
  /** One GPU a worker and nothing being terminated: workers are GPUs, the figures say it all. */
  oneGpuEach: boolean;
  /** Workers live or being terminated. */
  holdingWorkers: number;
  /** USD per hour of the workers live or being terminated; null when one's price is unknown. */
  burnUsdPerHour: number | null;
  /** The same sum over the workers whose price is known, and how many are not priced. */
  knownBurnUsdPerHour: number;
  unpricedWorkers: number;
  quoteUsdPerHour: number | null;
}

/**
 * The one account of what a fleet holds, GPUs and USD per hour: what the caps count (decide) and
 * what the reactor checks right before each spawn. `live` are the workers spawning or active,
 * `terminating` those being removed (they hold their GPUs and bill until they end). A worker
 * recorded without a GPU count takes G (gpusPerWorker).
 */
export function fleetAccount(
  live: readonly FleetWorker[],
  terminating: readonly FleetWorker[],
  gpusPerWorker: number,
  quoteUsdPerHour: number | null,
): FleetAccount {
  const g = gpusPerWorker;
  const liveGpus = live.reduce((n, w) => n + gpusOf(w, g), 0);
  const heldByOthers = terminating.reduce((n, w) => n + gpusOf(w, g), 0);
  const holding = [...live, ...terminating];
  const knownBurnUsdPerHour = holding.reduce((n, w) => n + (w.hourlyCostUsd ?? 0), 0);
  const unpricedWorkers = holding.filter((w) => w.hourlyCostUsd === null).length;
  return {
    gpusPerWorker: g,
    liveWorkers: live.length,
    currentGpus: liveGpus + heldByOthers,
    heldByOthers,
    oneGpuEach: g === 1 && heldByOthers === 0 && holding.every((w) => gpusOf(w, g) === 1),
    holdingWorkers: holding.length,
    burnUsdPerHour: unpricedWorkers ? null : knownBurnUsdPerHour,
    knownBurnUsdPerHour,
    unpricedWorkers,
    quoteUsdPerHour,
  };
}

/** The account of a fleet as read from the record (readFleet): its workers split by status. */
export function accountOf(fleet: readonly FleetWorker[], gpusPerWorker: number, quoteUsdPerHour: number | null) {
  return fleetAccount(
    fleet.filter((w) => w.status !== 'terminating'),
    fleet.filter((w) => w.status === 'terminating'),
    gpusPerWorker,
    quoteUsdPerHour,
  );
}

/**
 * A cap of the control loop, the same for every policy: its setting, the unit of its value, and
 * how it cuts the desired count (null: it does not). The caps apply in the order of CAPS, each to
 * what the one before left; each one that cuts is recorded as a limit of kind `cap`.
 */
export interface Cap {
  name: 'MAX_WORKERS' | 'MAX_ACTIVE_GPUS' | 'MAX_HOURLY_COST_USD';
  unit: LimitUnit;
  /** The cap's value in the settings; null: off. */
  value(s: ControlSettings): number | null;
  apply(desired: number, value: number, fleet: FleetAccount): { to: number; extra?: { detail: string } } | null;
}

/** MAX_WORKERS: workers, whatever they hold. */
const maxWorkers: Cap = {
  name: 'MAX_WORKERS',
  unit: 'workers',
  value: (s) => s.MAX_WORKERS,
  apply: (desired, max) => (desired > max ? { to: max } : null),
};

/**
 * The hard GPU budget: the workers kept at their own GPU counts, new ones at G, those being
 * terminated still counted. A fleet already over it is cut back in workers of G GPUs.
 */
const maxActiveGpus: Cap = {
  name: 'MAX_ACTIVE_GPUS',
  unit: 'GPUs',
  value: (s) => s.MAX_ACTIVE_GPUS,
  apply(desired, max, f) {
    const g = f.gpusPerWorker;
    const budgetWorkers =
      f.currentGpus <= max
        ? f.liveWorkers + Math.floor((max - f.currentGpus) / g)
        : Math.max(0, Math.floor((max - f.heldByOthers) / g));
    if (desired <= budgetWorkers) return null;
    if (f.oneGpuEach) return { to: budgetWorkers };
    const liveGpus = f.currentGpus - f.heldByOthers;
    const others = f.heldByOthers ? ` + ${f.heldByOthers} terminating` : '';
    const added = Math.max(0, budgetWorkers - f.liveWorkers);
    const detail =
      budgetWorkers >= f.liveWorkers
        ? `${liveGpus} GPUs live${others} + ${added} x ${g} = ${f.currentGpus + added * g} GPUs`
        : `${budgetWorkers} x ${g} GPUs${others} = ${f.heldByOthers + budgetWorkers * g} GPUs`;
    return { to: budgetWorkers, extra: { detail } };
  },
};

/**
 * The burn-rate cap: the fleet at its recorded prices plus new workers at the quote. Unknown prices
 * spawn nothing beyond the current fleet: better wait than overspend.
 */
const maxHourlyCost: Cap = {
  name: 'MAX_HOURLY_COST_USD',
  unit: 'USD/h',
  value: (s) => s.MAX_HOURLY_COST_USD,
  apply(desired, cap, f) {
    if (desired <= f.liveWorkers) return null;
    const price = f.quoteUsdPerHour;
    const burn = f.burnUsdPerHour;
    if (price === null || burn === null) {
      const detail =
        price === null
          ? 'the price of a new worker is unknown (no quote from the provider): nothing spawned beyond the current fleet'
          : "a live worker's price is unknown: nothing spawned beyond the current fleet";
      return { to: f.liveWorkers, extra: { detail } };
    }
    const fits = price === 0 ? Number.POSITIVE_INFINITY : Math.max(0, Math.floor((cap - burn) / price + 1e-9));
    if (desired - f.liveWorkers <= fits) return null;
    const cost = burn + fits * price;
    const detail =
      f.holdingWorkers === 0
        ? `${fits} x ${usd(price)} = ${usd(cost)} USD/h`
        : `${usd(burn)} live + ${fits} x ${usd(price)} = ${usd(cost)} USD/h`;
    return { to: f.liveWorkers + fits, extra: { detail } };
  },
};

/** The caps, in the order they apply. */
export const CAPS: readonly Cap[] = [maxWorkers, maxActiveGpus, maxHourlyCost];

/** The reason of a scale-up, and of one that spawning stopped: one wording for both. */
const spawnReason = (desired: number, current: number, delta: number, stoppedBy?: string) =>
  stoppedBy === undefined
    ? `desired ${desired} > current ${current}: spawn ${delta}`
    : `desired ${desired} > current ${current}: would spawn ${delta}, but spawning stopped: ${stoppedBy}`;

/**
 * A decision with spawning stopped: a would-be SCALE_UP becomes MAINTAIN, with the reason recorded
 * in place of the spawn's (a log or explain never reads "spawn N" for a cycle that spawned nothing).
 */
export function blockSpawning(r: PolicyResult, why: string): PolicyResult {
  if (r.decision !== 'SCALE_UP') return { ...r, spawnBlocked: why };
  const spawn = spawnReason(r.desired, r.current.total, r.delta);
  return {
    ...r,
    decision: 'MAINTAIN',
    delta: 0,
    spawnBlocked: why,
    reasons: [...r.reasons.filter((x) => x !== spawn), spawnReason(r.desired, r.current.total, r.delta, why)],
  };
}
