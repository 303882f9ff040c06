import type { Clock } from '../../clock';
import type { Sql } from '../../store/db';
import { spawnOutcomesBetween } from '../../store/queries';
import type { Anomaly } from '../anomalies';
import { breakerState, type SpawnOutcome } from '../circuit-breaker';
import { type ControlLog, fact } from '../log';
import { blockSpawning, type PolicyResult } from '../policy';
import { isRefusal, REFUSALS } from '../provider-refusals';

export interface SpawnGuardContext {
  sql: Sql;
  clock: Clock;
  log: ControlLog;
  providerName: string;
  breaker: { windowSec: number; minSpawns: number; failureRatio: number };
}

/** Why spawning must stop (null: it may go on), and the anomalies of a stop that begins now. */
export interface SpawnBlock {
  why: string | null;
  anomalies: Anomaly[];
}

/**
 * Guard: whether spawning must stop. The circuit breaker (most recent spawns failed, capacity
 * failures not counted), or a provider that refused us since this controller started: our
 * credentials, the account's balance, the request itself, or the API version (none of these fixes
 * itself). Anomalies are raised, and the stop logged, when a block begins.
 */
export class SpawnGuard {
  private breakerWasOpen = false;
  private readonly refusalsReported = new Set<string>();
  /** Refusals count from here: a restart (after the operator's fix) lets spawning try again. */
  startedAt = new Date(0);

  constructor(private readonly ctx: SpawnGuardContext) {}

  async check(cycle: number): Promise<SpawnBlock> {
    const { sql, clock, log, breaker: settings } = this.ctx;
    const now = clock.now();
    const since = new Date(Math.min(now.getTime() - settings.windowSec * 1000, this.startedAt.getTime())).toISOString();
    // until just after now: an outcome the reactor recorded at this very instant counts
    const rows = await spawnOutcomesBetween(sql, since, new Date(now.getTime() + 1).toISOString());
    const outcomes: SpawnOutcome[] = rows.map((r) => ({
      at: r.at,
      ok: r.type === 'WorkerSpawned',
      kind: r.type === 'WorkerSpawned' ? null : (r.kind as SpawnOutcome['kind']),
    }));
    const anomalies: Anomaly[] = [];
    const refusal = rows.filter((r) => isRefusal(r.kind) && Date.parse(r.at) >= this.startedAt.getTime()).pop();
    if (refusal && isRefusal(refusal.kind)) {
      const r = REFUSALS[refusal.kind];
      const why = `${r.why} (${refusal.error}); ${r.fix}`;
      if (!this.refusalsReported.has(refusal.kind)) {
        this.refusalsReported.add(refusal.kind);
        anomalies.push({
          kind: r.anomaly,
          message: `Provider ${this.ctx.providerName}: ${r.why}: spawning stopped. ${refusal.error ?? ''}`.trim(),
          figures: {},
          causes: r.causes,
        });
        fact(log, 'crit', `❌ CRITICAL: ${why}`, { cycle }, `SPAWNING STOPPED cycle=${cycle}: ${why}`);
      }
      return { why, anomalies };
    }
    const breaker = breakerState(outcomes, now, settings);
    if (breaker.open && !this.breakerWasOpen) {
      anomalies.push({
        kind: 'circuit_breaker_open',
        message: `Circuit breaker open: ${breaker.failed} of ${breaker.counted} spawns failed in the last ${settings.windowSec}s; spawning stopped until the window clears`,
        figures: { failed: breaker.failed, counted: breaker.counted, windowSec: settings.windowSec },
        causes: ['a broken worker image or start command', 'a provider outage', 'a bad pod configuration'],
      });
      fact(log, 'crit', `❌ ${breaker.reason}`, { cycle }, `SPAWNING STOPPED cycle=${cycle}: ${breaker.reason}`);
    } else if (!breaker.open && this.breakerWasOpen) {
      log.log(
        'notice',
        `✅ circuit breaker closed: spawning resumes (${breaker.failed} of ${breaker.counted} recent spawns failed)`,
        { cycle },
      );
    }
    this.breakerWasOpen = breaker.open;
    return { why: breaker.reason, anomalies };
  }
}

/**
 * Guard, pure: the policy's decision with spawning stopped when `block` says so, and held (no
 * action at all) when the reactor has not finished acting on cycle `lastCycle`'s decision, which
 * this one would double-count.
 */
export function guardDecision(
  decided: PolicyResult,
  block: SpawnBlock,
  reactorCaughtUp: boolean,
  lastCycle: number | undefined,
): { decision: PolicyResult; held: boolean } {
  const decision = block.why ? blockSpawning(decided, block.why) : decided;
  if (decision.decision === 'MAINTAIN' || reactorCaughtUp) return { decision, held: false };
  return {
    held: true,
    decision: {
      ...decision,
      decision: 'MAINTAIN',
      delta: 0,
      terminate: [],
      reasons: [
        ...decision.reasons,
        `held: the reactor has not finished acting on cycle #${lastCycle}'s decision, so this one would double-count`,
      ],
    },
  };
}
