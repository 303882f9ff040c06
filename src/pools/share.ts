/**
 * A pool's share of the global budget in one cycle, as its controller decides it: what every other
 * pool claims (read from the record before the policy runs), its own want (after its own caps),
 * allocate (allocate.ts), and the cap its share puts on its desired count. Pure: the live
 * controller, what-if and simulate call the same functions.
 */
import type { AllocationRecord, LimitUnit } from '../../events/scaling';
import { allocate, GLOBAL_GPU_CAP, type PoolClaim, shareText } from './allocate';
import { hasGlobalCap, type PoolsPlan } from './plan';

/** What the other pools claim this cycle, and the plan: all a decision needs of the global budget. */
export interface BudgetInput {
  plan: PoolsPlan;
  /** Every other pool's claim (claimsOfOthers). */
  others: PoolClaim[];
  /** GPUs each pool's live fleet holds now (terminating workers too): what is free of the GPU cap. */
  heldGpus: ReadonlyMap<string, number>;
}

/** What a pool last wanted (its last decision), and when. */
export interface PoolWant {
  pool: string;
  at: string;
  wantWorkers: number;
}

/**
 * Every pool but `pool`'s claim: its last want when decided within `freshSec` of `now`, else what it
 * holds now (its live workers: a pool that stopped deciding, or never started, keeps what it has
 * but asks no more), never below its floor.
 */
export function claimsOfOthers(
  plan: PoolsPlan,
  pool: string,
  wants: readonly PoolWant[],
  liveWorkers: ReadonlyMap<string, number>,
  now: Date,
  freshSec: number,
): PoolClaim[] {
  const byPool = new Map(wants.map((w) => [w.pool, w]));
  return plan.pools
    .filter((p) => p.pool !== pool)
    .map((p) => {
      const w = byPool.get(p.pool);
      const fresh = w && now.getTime() - Date.parse(w.at) <= freshSec * 1000;
      const held = liveWorkers.get(p.pool) ?? 0;
      return { ...p, wantWorkers: Math.max(fresh ? w.wantWorkers : held, 0) };
    });
}

/** The cap a pool's share puts on its desired count (as the decision records a limit), when below its want. */
export interface ShareLimit {
  name: string;
  unit: LimitUnit;
  value: number;
  to: number;
  detail: string;
}

/**
 * Shares the global caps between `pool` wanting `wantWorkers` (its desired count after its own caps,
 * at `usdPerWorker` each when known) and the other pools' claims. The allocation as recorded (this
 * pool's share first), and the limits on its desired count, in order:
 * 1. its share, when it got less than it wanted;
 * 2. the room the GPU cap has now: what the other pools hold is not free, even when their shares
 *    are smaller (busy workers are never taken from them; their idle ones go by their own
 *    decisions). It never cuts below the workers the pool holds (`liveWorkers`): it spawns no more
 *    than fits, rather than asking for spawns the reactor would refuse every cycle.
 */
export function poolShare(
  budget: BudgetInput,
  pool: string,
  wantWorkers: number,
  usdPerWorker: number | null,
  liveWorkers: number,
): { allocation: AllocationRecord; limits: ShareLimit[] } | null {
  const { plan } = budget;
  if (!hasGlobalCap(plan)) return null;
  const own = plan.pools.find((p) => p.pool === pool);
  if (!own) return null;
  const claims = [{ ...own, usdPerWorker, wantWorkers }, ...budget.others];
  const allocation = allocate(claims, plan.caps);
  const share = allocation.shares[0];
  // Every pool's want and share when a global cap binds (the decision says who went first); while
  // the pools fit, the pool's own share alone (its want, for the others' next decisions): a decision
  // of each of 100 pools carrying 100 shares every cycle would grow the record with the square of
  // the pools for nothing to explain.
  const binds = allocation.shares.some((s) => s.limitedBy !== null);
  const record: AllocationRecord = { caps: { ...plan.caps }, shares: binds ? allocation.shares : [share] };
  const limits: ShareLimit[] = [];
  let desired = wantWorkers;
  if (share.limitedBy !== null && share.gotWorkers < wantWorkers) {
    const gpuCap = share.limitedBy === GLOBAL_GPU_CAP;
    desired = share.gotWorkers;
    limits.push({
      name: share.limitedBy,
      unit: gpuCap ? 'GPUs' : 'USD/h',
      value: (gpuCap ? plan.caps.gpus : plan.caps.usdPerHour) ?? 0,
      to: desired,
      detail: shareText(allocation, pool),
    });
  }
  const cap = plan.caps.gpus;
  if (cap !== undefined) {
    const others = [...budget.heldGpus].filter(([p, g]) => p !== pool && g > 0);
    const held = others.reduce((n, [, g]) => n + g, 0);
    const room = Math.max(0, Math.floor((cap - held) / own.gpusPerWorker));
    const to = Math.max(room, Math.min(desired, liveWorkers));
    if (desired > to) {
      limits.push({
        name: GLOBAL_GPU_CAP,
        unit: 'GPUs',
        value: cap,
        to,
        detail: roomText(cap, others, room * own.gpusPerWorker),
      });
      desired = to;
    }
  }
  return { allocation: record, limits };
}

/** The room the GPU cap has now, in words: "the other pools hold 6 GPUs (image 6): 2 GPUs free". */
export function roomText(cap: number, others: readonly (readonly [string, number])[], free: number): string {
  const held = others.reduce((n, [, g]) => n + g, 0);
  const who = others.map(([p, g]) => `${p} ${g}`).join(', ');
  return `the other pools hold ${held} GPUs${who ? ` (${who})` : ''} of ${GLOBAL_GPU_CAP}=${cap}: ${free} GPUs free`;
}
