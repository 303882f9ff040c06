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
    // GPUs a higher priority was given and does not hold yet are kept for it
    const own = c.allocation?.shares.find((s) => s.pool === c.pool);
    const owed = (c.allocation?.shares ?? [])
      .filter((s) => own && s.priority > own.priority)
      .map((s) => ({ s, owed: Math.max(0, s.gotWorkers * s.gpusPerWorker - (gpusByPool.get(s.pool) ?? 0)) }))
      .filter((x) => x.owed > 0);
    const held = owed.reduce((a, x) => a + x.owed, 0);
    if (held > 0 && live + c.gpus + held > cap)
      return `held back by the global GPU budget: ${held} of ${GLOBAL_GPU_CAP}=${cap} GPU(s) are kept for higher priority (${owed
        .map(
          (x) =>
            `${x.s.pool}: priority ${x.s.priority}, got ${x.s.gotWorkers * x.s.gpusPerWorker}, holds ${gpusByPool.get(x.s.pool) ?? 0}`,
        )
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
