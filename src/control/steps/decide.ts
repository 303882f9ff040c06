import type { OverrideInForce } from '../../../events/operator';
import type { ControlSettings } from '../../../events/scaling';
import type { Clock } from '../../clock';
import type { Config } from '../../config';
import { choosePolicy } from '../../policies/index';
import type { ChosenPolicy, PastObservation } from '../../policies/policy';
import { overrideText } from '../../policies/render';
import { hasGlobalCap, type PoolsPlan } from '../../pools/plan';
import { type BudgetInput, claimsOfOthers } from '../../pools/share';
import type { Provider } from '../../providers/provider';
import type { TaskCount } from '../../sources/source';
import type { ControlReads } from '../../store/reads';
import { readFleet } from '../fleet';
import type { ControlLog } from '../log';
import { blockSpawning, decide, type FleetWorker, type PolicyResult } from '../policy';
import { fallbackPolicy } from './fallback';
import type { SourceReading } from './observe';

/** The settings every policy shares (the caps and the fleet's timeouts), as recorded with every decision. */
export function controlSettings(c: Config): ControlSettings {
  return {
    MAX_WORKERS: c.MAX_WORKERS,
    MAX_ACTIVE_GPUS: c.MAX_ACTIVE_GPUS,
    MAX_HOURLY_COST_USD: c.MAX_HOURLY_COST_USD ?? null,
    GPU_IDLE_TIMEOUT_SEC: c.GPU_IDLE_TIMEOUT_SEC,
    SPAWNING_TIMEOUT_SEC: c.SPAWNING_TIMEOUT_SEC,
    WORKER_MAX_LIFETIME_SEC: c.WORKER_MAX_LIFETIME_SEC ?? null,
  };
}

/** The policy POLICY names, with its settings from the configuration. */
export function configuredPolicy(c: Config): ChosenPolicy {
  return choosePolicy(c.POLICY, c);
}

export interface DecideContext {
  provider: Provider;
  clock: Clock;
  log: ControlLog;
  settings: ControlSettings;
  policy: ChosenPolicy;
  /** Where the policy's history (earlier TaskCountObserved), and the other pools' claims, are read from. */
  reads: ControlReads;
  /** The pool deciding: its own history only. */
  pool: string;
  /**
   * Every pool and the global caps, and how recent another pool's decision must be (s) for its want
   * to count (else what it holds counts): src/pools/share.ts. Absent: this pool alone.
   */
  budget?: { plan: PoolsPlan; freshSec: number };
}

/**
 * Decide: the policy (pure) on the observed tasks and the fleet, then the caps. A price is I/O:
 * asked here, at most once a cycle and only for the cost cap; so is the policy's history, read from
 * the record. The one place the policy is called.
 */
export async function decideScaling(
  ctx: DecideContext,
  cycle: number,
  tasks: TaskCount,
  fleet: FleetWorker[],
  operator: OperatorInput = NO_OVERRIDES,
): Promise<PolicyResult> {
  const now = ctx.clock.now();
  const budget = await budgetInput(ctx, now);
  const costCapped = ctx.settings.MAX_HOURLY_COST_USD !== null || budget?.plan.caps.usdPerHour !== undefined;
  const quote = costCapped ? await quoteOne(ctx, cycle) : null;
  const decided = decide({
    now,
    cycle,
    queued: tasks.queued,
    active: tasks.active,
    activity: tasks.workers,
    fleet,
    settings: ctx.settings,
    policy: ctx.policy,
    recent: await recentObservations(ctx.reads, ctx.policy, now, ctx.pool),
    gpusPerWorker: ctx.provider.gpusPerWorker,
    quoteUsdPerHour: quote,
    drain: operator.drain ? overrideText(operator.drain) : null,
    budget: budget ? { pool: ctx.pool, input: budget } : null,
  });
  const result = operator.inForce.length
    ? {
        ...decided,
        overrides: operator.inForce,
        reasons: [...decided.reasons, ...operator.inForce.map((o) => `operator override in force: ${overrideText(o)}`)],
      }
    : decided;
  // an operator's pause (or drain): no spawns this cycle, and the decision says whose and why
  const stop = operator.pause ?? operator.drain;
  return stop ? blockSpawning(result, overrideText(stop)) : result;
}

/**
 * Decide, a cycle's step: the configured policy, or while the task source fails past
 * SOURCE_FAILURE_CYCLES the fallback (see readSource), on `tasks` (tasksInMode) and the fleet.
 */
export function decideCycle(
  ctx: DecideContext,
  cycle: number,
  source: Pick<SourceReading, 'fallback' | 'failures'>,
  tasks: TaskCount,
  fleet: FleetWorker[],
  operator: OperatorInput,
): Promise<PolicyResult> {
  const policy = source.fallback ? fallbackPolicy(source.fallback, source.failures) : null;
  return decideScaling(policy ? { ...ctx, policy } : ctx, cycle, tasks, fleet, operator);
}

/** The operators' overrides a cycle obeys (src/control/overrides.ts applyOverrides): its settings are in the context. */
export interface OperatorInput {
  inForce: OverrideInForce[];
  pause: OverrideInForce | null;
  drain: OverrideInForce | null;
}

const NO_OVERRIDES: OperatorInput = { inForce: [], pause: null, drain: null };

/** The observations before `now` within the policy's lookback (none when it needs none). */
export async function recentObservations(
  reads: Pick<ControlReads, 'observationsBetween'>,
  p: ChosenPolicy,
  now: Date,
  pool?: string,
): Promise<PastObservation[]> {
  const sec = p.policy.lookbackSec(p.settings);
  if (!(sec > 0)) return [];
  const rows = await reads.observationsBetween(
    new Date(now.getTime() - sec * 1000).toISOString(),
    now.toISOString(),
    pool,
  );
  return rows.map((r) => ({ at: r.at, queued: r.queued, active: r.active }));
}

/**
 * What the other pools claim of the global budget now (null without a global cap): their last
 * wants (fresh within budget.freshSec) or what they hold.
 */
async function budgetInput(ctx: DecideContext, now: Date): Promise<BudgetInput | null> {
  const { budget, reads, pool } = ctx;
  if (!budget || !hasGlobalCap(budget.plan)) return null;
  const others = budget.plan.pools.map((p) => p.pool).filter((p) => p !== pool);
  const wants = await reads.latestWants(others);
  const live = new Map<string, number>();
  const heldGpus = new Map<string, number>();
  const heldUsd = new Map<string, number>();
  const size = (p: string) => budget.plan.pools.find((x) => x.pool === p)?.gpusPerWorker ?? 1;
  // a worker of unknown price burns what its pool's last decision quoted (else nothing known)
  const price = new Map(wants.map((w) => [w.pool, w.usdPerWorker]));
  for (const w of await readFleet(reads)) {
    heldGpus.set(w.pool, (heldGpus.get(w.pool) ?? 0) + (w.gpus ?? size(w.pool)));
    heldUsd.set(w.pool, (heldUsd.get(w.pool) ?? 0) + (w.hourlyCostUsd ?? price.get(w.pool) ?? 0));
    if (w.status !== 'terminating') live.set(w.pool, (live.get(w.pool) ?? 0) + 1);
  }
  return {
    plan: budget.plan,
    others: claimsOfOthers(budget.plan, pool, wants, live, now, budget.freshSec),
    heldGpus,
    heldUsd,
  };
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
