import { SHADOW_NOTE } from '../../policies/render';
import type { ProjectionRunner } from '../../projections/runner';
import type { ShadowFleet } from '../../shadow/fleet';
import { observeFleet } from '../../shadow/observe';
import type { TaskCount } from '../../sources/source';
import { readFleet } from '../fleet';
import type { FleetWorker, PolicyResult } from '../policy';
import { type FleetSyncContext, syncFleet } from './fleet-sync';

/** MODE (active or shadow) as a cycle obeys it: what it decides from, and what its decision says. */
export interface ModeContext extends FleetSyncContext {
  projections: Pick<ProjectionRunner, 'catchUp'>;
  /** MODE=shadow: the would-be fleet of the intended actions, which decisions are made from. */
  shadowFleet: ShadowFleet;
}

/**
 * Observe the fleet a cycle decides from. Active: the live workers, synced with the provider's
 * pods (and read again when that recorded anything). Shadow: the would-be fleet of the intended
 * actions, and the provider's pods (whoever manages them) are only listed and recorded.
 */
export async function fleetInMode(ctx: ModeContext, cycle: number, shadow: boolean): Promise<FleetWorker[]> {
  const { store } = ctx;
  if (shadow) {
    const fleet = await ctx.shadowFleet.read(store);
    await observeFleet(ctx, cycle);
    return fleet;
  }
  const fleet = await readFleet(store.reads, ctx.pool);
  if (!(await syncFleet(ctx, cycle, fleet))) return fleet;
  await ctx.projections.catchUp();
  return readFleet(store.reads, ctx.pool);
}

/**
 * The task count the policy decides from: would-be workers hold no task the source could name, so
 * in shadow the policy counts busy workers from active tasks.
 */
export const tasksInMode = (tasks: TaskCount, shadow: boolean): TaskCount =>
  shadow ? { ...tasks, workers: null } : tasks;

/** The decision marked with the mode it was made in (in shadow, it says so among its reasons). */
export const decisionInMode = (d: PolicyResult, shadow: boolean): PolicyResult =>
  shadow ? { ...d, mode: 'shadow' as const, reasons: [...d.reasons, SHADOW_NOTE] } : { ...d, mode: 'active' as const };
