/**
 * The reactor's pre-spawn check of the global caps, pure: one more worker of `pool` against the live
 * fleet of every pool (read in the same transaction that records the spawn, under the budget's lock:
 * src/reactor/reactor.ts). The decision's share says how many workers a pool may want; this is the
 * hard rule: no instant with more GPUs, or more USD per hour, than the global caps.
 */
import type { AllocationRecord } from '../../events/scaling';
import { GLOBAL_COST_CAP, GLOBAL_GPU_CAP } from './allocate';
import type { PoolsPlan } from './plan';

/** A live worker as the global caps count it (terminating ones too: they hold their GPUs until they end). */
export interface BudgetWorker {
  pool: string;
  /** Its GPUs (null: unknown, counted at its pool's size). */
  gpus: number | null;
  hourlyCostUsd: number | null;
}

export interface GlobalCheck {
  plan: PoolsPlan;
  /** The pool spawning, and one worker's GPUs and price (null: unknown). */
  pool: string;
  gpus: number;
  quoteUsdPerHour: number | null;
  /** Every pool's live fleet. */
  fleet: readonly BudgetWorker[];
  /** The decision's allocation: the shares of higher priorities are held back for them (GPUs). */
  allocation: AllocationRecord | null;
  /**
   * The fresh wants (workers) of higher-priority pools, read under the budget's lock: what they
   * asked for since this decision was made (another process's pool decides on its own clock) is
   * held back for them too.
   */
  higherWants?: ReadonlyMap<string, number>;
}

const n2 = (x: number) => x.toFixed(2);

/** Why one more worker would break a global cap (null: it fits). */
export function globalRefusal(c: GlobalCheck): string | null {
  const { plan } = c;
  const sizeOf = (pool: string) => plan.pools.find((p) => p.pool === pool)?.gpusPerWorker ?? 1;
  const gpusByPool = new Map<string, number>();
  for (const w of c.fleet) gpusByPool.set(w.pool, (gpusByPool.get(w.pool) ?? 0) + (w.gpus ?? sizeOf(w.pool)));
  const live = [...gpusByPool.values()].reduce((a, b) => a + b, 0);
  const byPool = [...gpusByPool.entries()].map(([p, g]) => `${p} ${g}`).join(', ') || 'none';
  const cap = plan.caps.gpus;
  if (cap !== undefined) {
    if (live + c.gpus > cap)
      return `refused by the global GPU budget: every pool's live fleet holds ${live} GPU(s) (${byPool}), one more worker of ${c.gpus} GPU(s) would make ${live + c.gpus} > ${GLOBAL_GPU_CAP}=${cap}`;
    // GPUs a higher priority was given (or asked for since) and does not hold yet are kept for it
    const ownPriority = plan.pools.find((p) => p.pool === c.pool)?.priority ?? 0;
    const given = new Map((c.allocation?.shares ?? []).map((s) => [s.pool, s.gotWorkers]));
    const owed = plan.pools
      .filter((p) => p.priority > ownPriority)
      .map((p) => {
        const workers = Math.max(given.get(p.pool) ?? 0, c.higherWants?.get(p.pool) ?? 0);
        const holds = gpusByPool.get(p.pool) ?? 0;
        return { p, wants: workers * p.gpusPerWorker, holds, owed: Math.max(0, workers * p.gpusPerWorker - holds) };
      })
      .filter((x) => x.owed > 0);
    const held = owed.reduce((a, x) => a + x.owed, 0);
    if (held > 0 && live + c.gpus + held > cap)
      return `held back by the global GPU budget: ${held} of ${GLOBAL_GPU_CAP}=${cap} GPU(s) are kept for higher priority (${owed
        .map((x) => `${x.p.pool}: priority ${x.p.priority}, wants ${x.wants}, holds ${x.holds}`)
        .join('; ')}); live ${live} + ${c.gpus} + ${held} > ${cap}`;
  }
  const usdCap = plan.caps.usdPerHour;
  if (usdCap !== undefined) {
    if (c.quoteUsdPerHour === null)
      return `refused by the global cost budget: the price of a new worker is unknown, so it cannot be held under ${GLOBAL_COST_CAP}=${usdCap}`;
    const burn = c.fleet.reduce((a, w) => a + (w.hourlyCostUsd ?? c.quoteUsdPerHour ?? 0), 0);
    if (burn + c.quoteUsdPerHour > usdCap + 1e-9)
      return `refused by the global cost budget: every pool's live fleet burns ${n2(burn)} USD/h, one more worker at ${n2(c.quoteUsdPerHour)} would make ${n2(burn + c.quoteUsdPerHour)} > ${GLOBAL_COST_CAP}=${usdCap}`;
  }
  return null;
}
