import { reached } from '../../store/checkpoints';
import type { Checkpoint } from '../../store/event-store';

/** The last decision this controller recorded: where the reactor's checkpoint must reach. */
export interface LastDecision {
  txId: string;
  position: number;
  cycle: number;
}

export interface ReactorWaitContext {
  /** Where the reactor stands; absent: nothing to wait for. */
  reactorCheckpoint?: () => Promise<Checkpoint>;
  /** Real milliseconds to wait for a lagging reactor before giving up. */
  waitMs: number;
}

/**
 * Observe: whether the reactor has acted on the last decision, waiting up to `waitMs` for it.
 * Asked before the fleet is read: a decision counts every spawn the decisions before it promised.
 * Read the other way round, a reactor that finishes while the controller waits for it leaves a
 * decision made from a fleet without those spawns, and it would be carried out.
 */
export async function reactorCaughtUp(ctx: ReactorWaitContext, last: LastDecision | null): Promise<boolean> {
  if (!last || !ctx.reactorCheckpoint) return true;
  const deadline = Date.now() + ctx.waitMs;
  for (;;) {
    const cp = await ctx.reactorCheckpoint();
    if (reached(cp, last.txId, last.position)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
