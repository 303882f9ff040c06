import type { Clock } from '../../clock';
import type { CapacityBackoffState } from '../../providers/capacity-backoff';
import type { Provider } from '../../providers/provider';
import type { ControlReads } from '../../store/reads';
import type { Anomaly } from '../anomalies';
import { breakerState, type SpawnOutcome } from '../circuit-breaker';
import type { SpawnStop } from '../conditions';
import { type ControlLog, fact } from '../log';
import { blockSpawning, type PolicyResult } from '../policy';
import { isRefusal, REFUSALS, type RefusalKind } from '../provider-refusals';

export interface SpawnGuardContext {
  /** Where the spawn outcomes are read from. */
  reads: Pick<ControlReads, 'spawnOutcomesBetween'>;
  clock: Clock;
  log: ControlLog;
  /** The provider: its name, and its list of pods, read as the probe while spawning is stopped. */
  provider: Pick<Provider, 'name' | 'list'>;
  breaker: { windowSec: number; minSpawns: number; failureRatio: number };
  /** PROVIDER_PROBE_EVERY_CYCLES: cycles between two probes of a provider that refused us. */
  probeEveryCycles: number;
  /** The pool guarded: only its spawns count. */
  pool?: string;
}

/** Why spawning must stop (null: it may go on), and the anomalies of a stop that begins now. */
export interface SpawnBlock {
  why: string | null;
  anomalies: Anomaly[];
  /** The stop, as the conditions need it (null: spawning allowed). */
  stop: SpawnStop | null;
  /** Set on the cycle a probe succeeded and spawning resumed after a refusal. */
  recovered: { provider: string } | null;
}

/** A refusal that stopped spawning: which, the provider's answer, when. */
interface Stopped {
  kind: RefusalKind;
  error: string | null;
  /** When the refusal was recorded. */
  at: string;
}

/** Outcomes recorded up to this long before the previous check are read again (the reactor records late). */
const LATE_MS = 10 * 60_000;
/** A probe interval that keeps doubling (a refusal again right after resuming) stops at this many times the setting. */
const MAX_PROBE_BACKOFF = 16;

/**
 * Guard: whether spawning must stop. The circuit breaker (most recent spawns failed, capacity
 * failures not counted), or a provider that refused us: our credentials, the account's balance, the
 * request itself, or the API version. A refusal stops spawning until a probe of the provider (a read
 * of its pods, every PROVIDER_PROBE_EVERY_CYCLES cycles) succeeds: after a key is rotated or a
 * balance topped up, spawning resumes without a restart. A read cannot prove that a balance or a
 * request is fixed: a refusal again before any spawn succeeded doubles the probe interval (up to
 * 16 times the setting), so a fault that is not fixed costs a few calls an hour, not one a cycle.
 *
 * Each cycle reads only the spawn outcomes the rules need: the breaker's window, and back to the
 * previous check (with a margin for outcomes recorded late), never the whole history.
 */
export class SpawnGuard {
  private breakerWasOpen = false;
  private stopped: Stopped | null = null;
  private nextProbeCycle = 0;
  private probeEvery: number;
  private lastCheck: Date | null = null;
  /** When spawning last resumed after a refusal (a refusal before any spawn succeeded since then backs off). */
  private resumed: Date | null = null;
  /** Refusals recorded before this instant are not counted: the start, or the last resume. */
  startedAt = new Date(0);

  constructor(private readonly ctx: SpawnGuardContext) {
    this.probeEvery = ctx.probeEveryCycles;
  }

  /**
   * After a restart: a refusal that had stopped spawning (from the recorded AbleToScale condition)
   * stays in force, and the provider is probed on the next cycle.
   */
  restore(stop: { kind: RefusalKind; error: string | null; at: string } | null): void {
    this.stopped = stop;
    this.nextProbeCycle = 0;
  }

  /** The refusal spawning is stopped by, if any. */
  get refusal(): RefusalKind | null {
    return this.stopped?.kind ?? null;
  }

  async check(cycle: number): Promise<SpawnBlock> {
    const { reads, clock, log, breaker: settings, provider } = this.ctx;
    const now = clock.now();
    const windowStart = now.getTime() - settings.windowSec * 1000;
    const sinceMs = Math.min(windowStart, (this.lastCheck ?? now).getTime() - LATE_MS);
    this.lastCheck = now;
    // until just after now: an outcome the reactor recorded at this very instant counts
    const rows = await reads.spawnOutcomesBetween(
      new Date(sinceMs).toISOString(),
      new Date(now.getTime() + 1).toISOString(),
      this.ctx.pool,
    );
    const anomalies: Anomaly[] = [];
    let recovered: SpawnBlock['recovered'] = null;

    if (this.stopped && cycle >= this.nextProbeCycle) {
      try {
        await provider.list();
        log.log(
          'notice',
          `✅ ${provider.name} answered a read (its list of pods) after refusing us (${this.stopped.kind}): spawning resumes`,
          { cycle },
        );
        this.stopped = null;
        this.resumed = now;
        this.startedAt = now;
        recovered = { provider: provider.name };
      } catch (err) {
        this.nextProbeCycle = cycle + this.probeEvery;
        log.log(
          'warning',
          `${provider.name} still refuses a read (${(err as Error).message}): spawning stays stopped, next probe in ${this.probeEvery} cycle(s)`,
          { cycle },
        );
      }
    }

    if (!this.stopped) {
      const refusal = rows.filter((r) => isRefusal(r.kind) && Date.parse(r.at) >= this.startedAt.getTime()).pop();
      if (refusal && isRefusal(refusal.kind)) {
        // a refusal again before any spawn succeeded since the last resume: the fix was not made
        const resumed = this.resumed;
        const unproven =
          resumed !== null && !rows.some((r) => r.type === 'WorkerSpawned' && Date.parse(r.at) >= resumed.getTime());
        this.probeEvery = unproven
          ? Math.min(this.probeEvery * 2, this.ctx.probeEveryCycles * MAX_PROBE_BACKOFF)
          : this.ctx.probeEveryCycles;
        this.stopped = { kind: refusal.kind, error: refusal.error, at: refusal.at };
        this.nextProbeCycle = cycle + this.probeEvery;
        recovered = null;
        const r = REFUSALS[refusal.kind];
        anomalies.push({
          kind: r.anomaly,
          message:
            `Provider ${provider.name}: ${r.why}: spawning stopped until a probe succeeds. ${refusal.error ?? ''}`.trim(),
          figures: { probeEveryCycles: this.probeEvery },
          causes: r.causes,
        });
        const why = this.why(this.stopped);
        fact(log, 'crit', `❌ CRITICAL: ${why}`, { cycle }, `SPAWNING STOPPED cycle=${cycle}: ${why}`);
      }
    }
    if (this.stopped) {
      return {
        why: this.why(this.stopped),
        anomalies,
        recovered: null,
        stop: {
          kind: 'refusal',
          refusal: this.stopped.kind,
          error: this.stopped.error,
          provider: provider.name,
          probeEveryCycles: this.probeEvery,
        },
      };
    }

    const outcomes: SpawnOutcome[] = rows.map((r) => ({
      at: r.at,
      ok: r.type === 'WorkerSpawned',
      kind: r.type === 'WorkerSpawned' ? null : (r.kind as SpawnOutcome['kind']),
    }));
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
    return {
      why: breaker.reason,
      anomalies,
      recovered,
      stop: breaker.open ? { kind: 'breaker', ...settings } : null,
    };
  }

  private why(s: Stopped): string {
    const r = REFUSALS[s.kind];
    return `${r.why}${s.error ? ` (${s.error})` : ''}; ${r.fix}`;
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

/**
 * Guard, pure: a spawn block for a provider whose candidates are all backing off, when nothing
 * else blocks spawning already. The decision then requests no spawn and says why and until when.
 */
export function capacityBlock(block: SpawnBlock, backoff: CapacityBackoffState | null, provider: string): SpawnBlock {
  if (block.why || !backoff) return block;
  return {
    why: `no placement candidate has capacity: every one is backing off until ${backoff.until} (${backoff.why})`,
    anomalies: block.anomalies,
    stop: { kind: 'capacity', until: backoff.until, why: backoff.why, provider },
    recovered: block.recovered,
  };
}

export interface GuardContext {
  guard: SpawnGuard;
  /** The provider: its name, and the capacity backoff of its placement candidates. */
  provider: Pick<Provider, 'name' | 'capacityBackoff'>;
}

/**
 * Guard, a cycle's step: the decision with spawning stopped (a refusal, the breaker, every
 * candidate backing off) and held when the reactor is still acting on the last decision
 * (`lastCycle`'s); with the block, whose anomalies and stop the cycle records.
 */
export async function guardCycle(
  ctx: GuardContext,
  cycle: number,
  decided: PolicyResult,
  reactorCaughtUp: boolean,
  lastCycle: number | undefined,
): Promise<{ decision: PolicyResult; held: boolean; block: SpawnBlock }> {
  const { provider } = ctx;
  const block = capacityBlock(await ctx.guard.check(cycle), provider.capacityBackoff?.() ?? null, provider.name);
  return { ...guardDecision(decided, block, reactorCaughtUp, lastCycle), block };
}
