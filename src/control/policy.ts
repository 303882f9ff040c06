import type { AppliedLimit, Decision, PolicySettings, TerminationPick } from '../../events/scaling';
import type { WorkerActivity } from '../../events/task-count';

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
  settings: PolicySettings;
}

export interface PolicyResult {
  total: number;
  current: { active: number; spawning: number; total: number };
  busy: number;
  idle: number;
  terms: { minActive: number; byTasks: number; busyPlusIdle: number };
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
}

const secondsBetween = (from: string, now: Date) => Math.max(0, Math.floor((now.getTime() - Date.parse(from)) / 1000));

/**
 * The default policy, the one the operators run today, as a pure function:
 *   desired = min(MAX_WORKERS, max(MIN_ACTIVE_GPUS, ceil(total / TASKS_PER_GPU), busy + MACHINES_TO_KEEP_IDLE))
 * then cut to the hard GPU budget MAX_ACTIVE_GPUS. Scale-down only removes workers idle for
 * GPU_IDLE_TIMEOUT_SEC, least recently used first, and never one that holds a task (when the source
 * can tell). Workers stuck in spawning past SPAWNING_TIMEOUT_SEC are listed for termination.
 */
export function decide(input: PolicyInput): PolicyResult {
  const s = input.settings;
  const reasons: string[] = [];
  const total = input.queued + input.active;

  const timedOut: TerminationPick[] = [];
  const expired: TerminationPick[] = [];
  const live: FleetWorker[] = [];
  for (const w of input.fleet) {
    if (w.status === 'terminating') continue;
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

  const terms = {
    minActive: s.MIN_ACTIVE_GPUS,
    byTasks: Math.ceil(total / s.TASKS_PER_GPU),
    busyPlusIdle: busy + s.MACHINES_TO_KEEP_IDLE,
  };
  const desiredBeforeCaps = Math.max(terms.minActive, terms.byTasks, terms.busyPlusIdle);
  const limits: AppliedLimit[] = [];
  if (desiredBeforeCaps === terms.minActive && terms.minActive > Math.max(terms.byTasks, terms.busyPlusIdle)) {
    limits.push({
      name: 'MIN_ACTIVE_GPUS',
      value: s.MIN_ACTIVE_GPUS,
      from: Math.max(terms.byTasks, terms.busyPlusIdle),
      to: terms.minActive,
    });
  }
  let requested = desiredBeforeCaps;
  if (requested > s.MAX_WORKERS) {
    limits.push({ name: 'MAX_WORKERS', value: s.MAX_WORKERS, from: requested, to: s.MAX_WORKERS });
    requested = s.MAX_WORKERS;
  }
  let desired = requested;
  if (desired > s.MAX_ACTIVE_GPUS) {
    limits.push({ name: 'MAX_ACTIVE_GPUS', value: s.MAX_ACTIVE_GPUS, from: desired, to: s.MAX_ACTIVE_GPUS });
    desired = s.MAX_ACTIVE_GPUS;
  }

  let decision: Decision = 'MAINTAIN';
  let delta = 0;
  const terminate: TerminationPick[] = [];
  if (desired > current.total) {
    decision = 'SCALE_UP';
    delta = desired - current.total;
    reasons.push(`desired ${desired} > current ${current.total}: spawn ${delta}`);
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
      .filter((c) => c.idleSec >= s.GPU_IDLE_TIMEOUT_SEC)
      .sort((a, b) => b.idleSec - a.idleSec || a.w.workerId.localeCompare(b.w.workerId));
    // Without per-worker activity, keep enough workers for the active tasks.
    const removable = Math.max(0, Math.min(excess, eligible.length, current.active - unknownHolders));
    for (const c of eligible.slice(0, removable)) {
      terminate.push({
        workerId: c.w.workerId,
        podId: c.w.podId,
        idleSec: c.idleSec,
        reason: `idle ${c.idleSec}s >= GPU_IDLE_TIMEOUT_SEC=${s.GPU_IDLE_TIMEOUT_SEC}`,
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
        `${excess - terminate.length} worker(s) over desired kept: not idle for GPU_IDLE_TIMEOUT_SEC=${s.GPU_IDLE_TIMEOUT_SEC}s, still spawning, or holding a task`,
      );
    }
  } else {
    reasons.push(`desired ${desired} = current ${current.total}`);
  }
  for (const l of limits) reasons.push(`${l.name}=${l.value} changed desired from ${l.from} to ${l.to}`);

  return {
    total,
    current,
    busy,
    idle,
    terms,
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
  };
}

/** A decision with spawning stopped: a would-be SCALE_UP becomes MAINTAIN, with the reason recorded. */
export function blockSpawning(r: PolicyResult, why: string): PolicyResult {
  if (r.decision !== 'SCALE_UP') return { ...r, spawnBlocked: why };
  return {
    ...r,
    decision: 'MAINTAIN',
    delta: 0,
    spawnBlocked: why,
    reasons: [...r.reasons, `spawning stopped: ${why}`],
  };
}
