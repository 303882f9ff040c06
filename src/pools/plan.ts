/**
 * The pools a process (or a set of replicas) scales, as the global budget sees them: each pool's
 * name, priority, floor and size of a worker, and the global caps. Built once at start from the
 * configuration and the pools' providers; every pool's controller and reactor get the same plan, so
 * each can compute the one allocation (allocate.ts) and the pre-spawn check across pools.
 */
import type { Config } from '../config';
import type { Configuration } from '../config-file';
import { floorProblems, type GlobalCaps, type PoolClaim } from './allocate';

/** One pool as the global budget sees it (a PoolClaim without this cycle's want). */
export type PoolPlanEntry = Omit<PoolClaim, 'wantWorkers'>;

export interface PoolsPlan {
  caps: GlobalCaps;
  /** Every pool, in the configuration's order. */
  pools: PoolPlanEntry[];
}

/** The global caps the top level sets (GLOBAL_MAX_ACTIVE_GPUS, GLOBAL_MAX_HOURLY_COST_USD). */
export function globalCapsOf(top: Config): GlobalCaps {
  return {
    ...(top.GLOBAL_MAX_ACTIVE_GPUS !== undefined ? { gpus: top.GLOBAL_MAX_ACTIVE_GPUS } : {}),
    ...(top.GLOBAL_MAX_HOURLY_COST_USD !== undefined ? { usdPerHour: top.GLOBAL_MAX_HOURLY_COST_USD } : {}),
  };
}

/** Whether a plan has a global cap at all (without one, pools never limit each other). */
export const hasGlobalCap = (plan: PoolsPlan): boolean =>
  plan.caps.gpus !== undefined || plan.caps.usdPerHour !== undefined;

/**
 * The plan of a configuration. `gpusPerWorker(pool)` is the pool's provider's (its workers' size);
 * a pool's floor is its MIN_ACTIVE_GPUS (a setting of the operators policy) in whole workers.
 */
export function poolsPlan(configuration: Configuration, gpusPerWorker: (pool: string) => number): PoolsPlan {
  return {
    caps: globalCapsOf(configuration.top),
    pools: configuration.pools.map((p) => {
      const g = Math.max(1, gpusPerWorker(p.name));
      return {
        pool: p.name,
        priority: p.config.PRIORITY,
        floorWorkers: Math.ceil((p.config.MIN_ACTIVE_GPUS ?? 0) / g),
        gpusPerWorker: g,
        usdPerWorker: null,
      };
    }),
  };
}

/** A plan's configuration errors (floors that alone pass a global cap), each naming the cap and the floors. */
export function planProblems(plan: PoolsPlan): string[] {
  return floorProblems(
    plan.pools.map((p) => ({ ...p, wantWorkers: p.floorWorkers })),
    plan.caps,
  );
}

/** The plan of one pool alone, without global caps: what a deployment of today runs. */
export function singlePoolPlan(pool: string, priority = 0, gpusPerWorker = 1): PoolsPlan {
  return { caps: {}, pools: [{ pool, priority, floorWorkers: 0, gpusPerWorker, usdPerWorker: null }] };
}

/**
 * Items (pools) in levels of one priority, highest first, each level in the given order: the pools
 * of one process decide a level at a time, so a lower priority's decision sees the fresh wants of
 * every higher one it shares the global caps with (side by side within a level).
 */
export function priorityLevels<T>(items: readonly T[], priorityOf: (item: T) => number): T[][] {
  const levels = [...new Set(items.map(priorityOf))].sort((a, b) => b - a);
  return levels.map((p) => items.filter((i) => priorityOf(i) === p));
}
