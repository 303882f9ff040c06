/**
 * A pool's share of the global budget in one cycle, as its controller decides it: what every other
 * pool claims (read from the record before the policy runs), its own want (after its own caps),
 * allocate (allocate.ts), and the cap its share puts on its desired count. Pure: the live
 * controller, what-if and simulate call the same functions.
 */
import type { AllocationRecord, LimitUnit } from '../../events/scaling';
import { allocate, GLOBAL_COST_CAP, GLOBAL_GPU_CAP, type GlobalCapName, type PoolClaim, shareText } from './allocate';
import { hasGlobalCap, type PoolsPlan } from './plan';

/** What the other pools claim this cycle, and the plan: all a decision needs of the global budget. */
export interface BudgetInput {
  plan: PoolsPlan;
  /** Every other pool's claim (claimsOfOthers). */
  others: PoolClaim[];
  /** GPUs each pool's live fleet holds now (terminating workers too): what is free of the GPU cap. */
  heldGpus: ReadonlyMap<string, number>;
  /** USD per hour each pool's live fleet burns now (terminating workers too): what is free of the cost cap. */
  heldUsd?: ReadonlyMap<string, number>;
}

/** What a pool last wanted (its last decision), and when, and the price of one of its workers then. */
export interface PoolWant {
  pool: string;
  at: string;
  wantWorkers: number;
  /** The quote its decision used, USD/h; null or absent: unknown (it then costs nothing of the cost cap's shares). */
  usdPerWorker?: number | null;
}

/**
 * Every pool but `pool`'s claim: its last want when decided within `freshSec` of `now`, else what it
 * holds now (its live workers: a pool that stopped deciding, or never started, keeps what it has
 * but asks no more), never below its floor; at the price its last decision quoted (however old: a
 * price is still a price), so the cost cap is shared by priority as the GPU cap is.
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
      return {
        ...p,
        wantWorkers: Math.max(fresh ? w.wantWorkers : held, 0),
        usdPerWorker: w?.usdPerWorker ?? p.usdPerWorker,
      };
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
  // the room each cap has now, in whole workers of this pool: what the other pools hold is not free
  const rooms: {
    name: GlobalCapName;
    cap: number | undefined;
    perWorker: number | null;
    held: ReadonlyMap<string, number> | undefined;
  }[] = [
    { name: GLOBAL_GPU_CAP, cap: plan.caps.gpus, perWorker: own.gpusPerWorker, held: budget.heldGpus },
    { name: GLOBAL_COST_CAP, cap: plan.caps.usdPerHour, perWorker: usdPerWorker, held: budget.heldUsd },
  ];
  for (const r of rooms) {
    if (r.cap === undefined || !r.held || r.perWorker === null || !(r.perWorker > 0)) continue;
    const others = [...r.held].filter(([p, x]) => p !== pool && x > 0);
    const held = others.reduce((n, [, x]) => n + x, 0);
    const room = Math.max(0, Math.floor((r.cap - held) / r.perWorker + 1e-9));
    const to = Math.max(room, Math.min(desired, liveWorkers));
    if (desired > to) {
      const gpuCap = r.name === GLOBAL_GPU_CAP;
      limits.push({
        name: r.name,
        unit: gpuCap ? 'GPUs' : 'USD/h',
        value: r.cap,
        to,
        detail: roomText(r.name, r.cap, others, room, r.perWorker),
      });
      desired = to;
    }
  }
  return { allocation: record, limits };
}

/**
 * The room a global cap has now, in words: "the other pools hold 6 GPUs (image 6) of
 * GLOBAL_MAX_ACTIVE_GPUS=8: 2 GPUs free", or "the other pools burn 7.50 USD/h (video 7.50) of
 * GLOBAL_MAX_HOURLY_COST_USD=10: 2.50 USD/h free, room for 1 worker at 2.00 USD/h".
 */
export function roomText(
  capName: GlobalCapName,
  cap: number,
  others: readonly (readonly [string, number])[],
  roomWorkers: number,
  perWorker: number,
): string {
  const held = others.reduce((n, [, x]) => n + x, 0);
  if (capName === GLOBAL_GPU_CAP) {
    const who = others.map(([p, g]) => `${p} ${g}`).join(', ');
    return `the other pools hold ${held} GPUs${who ? ` (${who})` : ''} of ${capName}=${cap}: ${roomWorkers * perWorker} GPUs free`;
  }
  const usd = (x: number) => x.toFixed(2);
  const who = others.map(([p, x]) => `${p} ${usd(x)}`).join(', ');
  return `the other pools burn ${usd(held)} USD/h${who ? ` (${who})` : ''} of ${capName}=${cap}: ${usd(Math.max(0, cap - held))} USD/h free, room for ${roomWorkers} worker(s) at ${usd(perWorker)} USD/h`;
}
