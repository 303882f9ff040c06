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
 * pool's share first), and the limit when it got less than it wanted.
 */
export function poolShare(
  budget: BudgetInput,
  pool: string,
  wantWorkers: number,
  usdPerWorker: number | null,
): { allocation: AllocationRecord; limit: ShareLimit | null } | null {
  const { plan } = budget;
  if (!hasGlobalCap(plan)) return null;
  const own = plan.pools.find((p) => p.pool === pool);
  if (!own) return null;
  const claims = [{ ...own, usdPerWorker, wantWorkers }, ...budget.others];
  const allocation = allocate(claims, plan.caps);
  const share = allocation.shares[0];
  const record: AllocationRecord = { caps: { ...plan.caps }, shares: allocation.shares };
  if (share.limitedBy === null || share.gotWorkers >= wantWorkers) return { allocation: record, limit: null };
  const gpuCap = share.limitedBy === GLOBAL_GPU_CAP;
  return {
    allocation: record,
    limit: {
      name: share.limitedBy,
      unit: gpuCap ? 'GPUs' : 'USD/h',
      value: (gpuCap ? plan.caps.gpus : plan.caps.usdPerHour) ?? 0,
      to: share.gotWorkers,
      detail: shareText(allocation, pool),
    },
  };
}
