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
  /**
   * Each pool's last quoted price of one worker, USD/h (its last decision's quote; absent: unknown):
   * what a live worker of unknown price burns, and what a higher priority's owed workers will cost.
   */
  prices?: ReadonlyMap<string, number | null>;
}

/** What the higher priorities were given (or asked for since) and do not hold yet: kept for them. */
interface Owed {
  pool: string;
  priority: number;
  /** In GPUs and in workers: what it wants, what it holds, what it is owed. */
  wantsGpus: number;
  holdsGpus: number;
  owedGpus: number;
  wantsWorkers: number;
  holdsWorkers: number;
  /** The owed workers' burn at its last quote; null: its price is unknown (nothing held back for it). */
  owedUsd: number | null;
}

const n2 = (x: number) => x.toFixed(2);

/** Every pool's live fleet, counted: GPUs and workers by pool, the total GPUs, and their burn (USD/h). */
function counted(c: GlobalCheck) {
  const sizeOf = (pool: string) => c.plan.pools.find((p) => p.pool === pool)?.gpusPerWorker ?? 1;
  const gpusByPool = new Map<string, number>();
  const workersByPool = new Map<string, number>();
  let burn = 0;
  for (const w of c.fleet) {
    gpusByPool.set(w.pool, (gpusByPool.get(w.pool) ?? 0) + (w.gpus ?? sizeOf(w.pool)));
    workersByPool.set(w.pool, (workersByPool.get(w.pool) ?? 0) + 1);
    // a worker whose price is not known yet burns its pool's quote (else this pool's)
    burn += w.hourlyCostUsd ?? c.prices?.get(w.pool) ?? c.quoteUsdPerHour ?? 0;
  }
  const live = [...gpusByPool.values()].reduce((a, b) => a + b, 0);
  return { gpusByPool, workersByPool, live, burn };
}

/** The pools of higher priority than `c.pool` that are owed GPUs or workers they were given or want now. */
function owedToHigher(c: GlobalCheck, count: ReturnType<typeof counted>): Owed[] {
  const ownPriority = c.plan.pools.find((p) => p.pool === c.pool)?.priority ?? 0;
  const given = new Map((c.allocation?.shares ?? []).map((s) => [s.pool, s.gotWorkers]));
  return c.plan.pools
    .filter((p) => p.priority > ownPriority)
    .map((p): Owed => {
      const workers = Math.max(given.get(p.pool) ?? 0, c.higherWants?.get(p.pool) ?? 0);
      const holdsGpus = count.gpusByPool.get(p.pool) ?? 0;
      const holdsWorkers = count.workersByPool.get(p.pool) ?? 0;
      const price = c.prices?.get(p.pool) ?? null;
      const owedWorkers = Math.max(0, workers - holdsWorkers);
      return {
        pool: p.pool,
        priority: p.priority,
        wantsGpus: workers * p.gpusPerWorker,
        holdsGpus,
        owedGpus: Math.max(0, workers * p.gpusPerWorker - holdsGpus),
        wantsWorkers: workers,
        holdsWorkers,
        owedUsd: price === null ? null : owedWorkers * price,
      };
    });
}

/** Why one more worker would break a global cap (null: it fits). */
export function globalRefusal(c: GlobalCheck): string | null {
  const { plan } = c;
  const count = counted(c);
  const { live, burn } = count;
  const byPool = [...count.gpusByPool.entries()].map(([p, g]) => `${p} ${g}`).join(', ') || 'none';
  const owed = owedToHigher(c, count);
  const cap = plan.caps.gpus;
  if (cap !== undefined) {
    if (live + c.gpus > cap)
      return `refused by the global GPU budget: every pool's live fleet holds ${live} GPU(s) (${byPool}), one more worker of ${c.gpus} GPU(s) would make ${live + c.gpus} > ${GLOBAL_GPU_CAP}=${cap}`;
    // GPUs a higher priority was given (or asked for since) and does not hold yet are kept for it
    const gpusOwed = owed.filter((x) => x.owedGpus > 0);
    const held = gpusOwed.reduce((a, x) => a + x.owedGpus, 0);
    if (held > 0 && live + c.gpus + held > cap)
      return `held back by the global GPU budget: ${held} of ${GLOBAL_GPU_CAP}=${cap} GPU(s) are kept for higher priority (${gpusOwed
        .map((x) => `${x.pool}: priority ${x.priority}, wants ${x.wantsGpus}, holds ${x.holdsGpus}`)
        .join('; ')}); live ${live} + ${c.gpus} + ${held} > ${cap}`;
  }
  const usdCap = plan.caps.usdPerHour;
  if (usdCap !== undefined) {
    if (c.quoteUsdPerHour === null)
      return `refused by the global cost budget: the price of a new worker is unknown, so it cannot be held under ${GLOBAL_COST_CAP}=${usdCap}`;
    if (burn + c.quoteUsdPerHour > usdCap + 1e-9)
      return `refused by the global cost budget: every pool's live fleet burns ${n2(burn)} USD/h, one more worker at ${n2(c.quoteUsdPerHour)} would make ${n2(burn + c.quoteUsdPerHour)} > ${GLOBAL_COST_CAP}=${usdCap}`;
    // the burn of the workers a higher priority was given (or asked for since) and does not hold yet
    const usdOwed = owed.filter((x) => (x.owedUsd ?? 0) > 0);
    const held = usdOwed.reduce((a, x) => a + (x.owedUsd ?? 0), 0);
    if (held > 0 && burn + c.quoteUsdPerHour + held > usdCap + 1e-9)
      return `held back by the global cost budget: ${n2(held)} of ${GLOBAL_COST_CAP}=${usdCap} USD/h are kept for higher priority (${usdOwed
        .map((x) => `${x.pool}: priority ${x.priority}, wants ${x.wantsWorkers} worker(s), holds ${x.holdsWorkers}`)
        .join('; ')}); burn ${n2(burn)} + ${n2(c.quoteUsdPerHour)} + ${n2(held)} > ${usdCap}`;
  }
  return null;
}

/**
 * The most one more worker of `c.pool` may cost under the global cost cap (USD/h): what every pool's
 * live fleet and the higher priorities' owed workers leave; undefined without a global cost cap. The
 * spawn is placed under it, so a dearer GPU type than the quote cannot pass the cap.
 */
export function globalCostRoom(c: GlobalCheck): number | undefined {
  const usdCap = c.plan.caps.usdPerHour;
  if (usdCap === undefined) return undefined;
  const count = counted(c);
  const held = owedToHigher(c, count).reduce((a, x) => a + (x.owedUsd ?? 0), 0);
  // to a millionth of a dollar, as the pool's own cost cap rounds
  return Math.max(0, Math.round((usdCap - count.burn - held) * 1e6) / 1e6);
}
