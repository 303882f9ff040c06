import type { PolicySettings } from '../../../events/scaling';
import type { Clock } from '../../clock';
import type { Config } from '../../config';
import type { Provider } from '../../providers/provider';
import type { TaskCount } from '../../sources/source';
import type { ControlLog } from '../log';
import { decide, type FleetWorker, type PolicyResult } from '../policy';

/** The policy's settings, as recorded with every decision. */
export function policySettings(c: Config): PolicySettings {
  return {
    policy: 'default',
    TASKS_PER_GPU: c.TASKS_PER_GPU,
    MIN_ACTIVE_GPUS: c.MIN_ACTIVE_GPUS,
    MAX_WORKERS: c.MAX_WORKERS,
    MAX_ACTIVE_GPUS: c.MAX_ACTIVE_GPUS,
    MACHINES_TO_KEEP_IDLE: c.MACHINES_TO_KEEP_IDLE,
    GPU_IDLE_TIMEOUT_SEC: c.GPU_IDLE_TIMEOUT_SEC,
    SPAWNING_TIMEOUT_SEC: c.SPAWNING_TIMEOUT_SEC,
    WORKER_MAX_LIFETIME_SEC: c.WORKER_MAX_LIFETIME_SEC ?? null,
    MAX_HOURLY_COST_USD: c.MAX_HOURLY_COST_USD ?? null,
  };
}

export interface DecideContext {
  provider: Provider;
  clock: Clock;
  log: ControlLog;
  settings: PolicySettings;
}

/**
 * Decide: the policy (pure) on the observed tasks and the fleet. A price is I/O: asked here, at
 * most once a cycle and only for the cost cap. The one place the policy is called.
 */
export async function decideScaling(
  ctx: DecideContext,
  cycle: number,
  tasks: TaskCount,
  fleet: FleetWorker[],
): Promise<PolicyResult> {
  const quote = ctx.settings.MAX_HOURLY_COST_USD !== null ? await quoteOne(ctx, cycle) : null;
  return decide({
    now: ctx.clock.now(),
    queued: tasks.queued,
    active: tasks.active,
    activity: tasks.workers,
    fleet,
    settings: ctx.settings,
    gpusPerWorker: ctx.provider.gpusPerWorker,
    quoteUsdPerHour: quote,
  });
}

/** One more worker's price from the provider, USD per hour; null when it has none or fails. */
async function quoteOne(ctx: DecideContext, cycle: number): Promise<number | null> {
  const { provider, log } = ctx;
  if (!provider.quote) return null;
  try {
    return (await provider.quote()).hourlyCostUsd;
  } catch (err) {
    log.log('warning', `could not get a price from ${provider.name}: ${(err as Error).message}`, { cycle });
    return null;
  }
}
