import type { DbLoggingStats, LogDestinationStats } from '../../events/health';
import { DEFAULT_POOL, Streams } from '../../events/index';
import type { Clock } from '../clock';
import type { Config } from '../config';
import { overrideText, SHADOW_NOTE } from '../policies/render';
import type { ProjectionRunner } from '../projections/runner';
import type { Provider } from '../providers/provider';
import { ShadowFleet } from '../shadow/fleet';
import { observeFleet } from '../shadow/observe';
import type { TaskSource } from '../sources/source';
import type { Checkpoint, EventStore } from '../store/event-store';
import { StoreWatch } from '../store/store-watch';
import type { Anomaly, AnomalyThresholds } from './anomalies';
import { cancelUnwanted } from './cancel';
import {
  type ConditionChange,
  type ConditionInput,
  type ConditionState,
  type ConditionType,
  conditionChangeText,
  isHealthy,
  nextConditions,
  recordedConditions,
  refusalOf,
} from './conditions';
import { ControlStream } from './control-stream';
import { readFleet } from './fleet';
import { type ControlLog, fact } from './log';
import { applyOverrides, readOverrides, recordExpiries } from './overrides';
import type { PolicyResult } from './policy';
import {
  configuredPolicy,
  controlSettings,
  type DecideContext,
  decideScaling,
  type OperatorInput,
} from './steps/decide';
import { anomalyThresholds, detectCycleAnomalies } from './steps/detect';
import { fallbackPolicy, sourceFallback, sourceFallbackSettings } from './steps/fallback';
import { type FleetSyncContext, syncFleet } from './steps/fleet-sync';
import { type ObserveContext, observeTasks } from './steps/observe';
import { type OrphanSweepContext, sweepOrphans } from './steps/orphan-sweep';
import { type PeriodicHealthContext, periodicHealth } from './steps/periodic-health';
import { type LastDecision, type ReactorWaitContext, reactorCaughtUp } from './steps/reactor-wait';
import { type ConditionEvent, type RecordContext, recordCycle, recordFallback, recordRejected } from './steps/record';
import { capacityBlock, guardDecision, SpawnGuard } from './steps/spawn-guard';

export { configuredPolicy, controlSettings } from './steps/decide';

export interface ControllerDeps {
  store: EventStore;
  source: TaskSource;
  provider: Provider;
  clock: Clock;
  config: Config;
  log: ControlLog;
  projections: ProjectionRunner;
  /** Database logging statistics, for health checks. */
  dbLogging: () => DbLoggingStats;
  logDestinations?: () => LogDestinationStats[];
  /** Where the reactor stands, so a decision is never made before the last one was acted on. */
  reactorCheckpoint?: () => Promise<Checkpoint>;
  /** Real milliseconds to wait for a lagging reactor before holding the fleet (default 5000). */
  reactorWaitMs?: number;
  /** Correlation and decision ids (default random UUIDs; a simulation passes seeded ones). */
  newId?: () => string;
  /** Told each cycle's real duration, however it ended (the metrics). */
  onCycleFinished?: (seconds: number) => void;
}

export type CycleOutcome =
  | { cycle: number; kind: 'rejected'; reason: string }
  | { cycle: number; kind: 'decided'; decision: PolicyResult; anomalies: Anomaly[]; held: boolean }
  | { cycle: number; kind: 'skipped'; reason: string };

/**
 * The control loop. Each cycle observes (projections, the reactor's progress, the provider's
 * pods, the task source), decides (pure policy), guards (spawn stops, a lagging reactor), records
 * it all as one atomic batch on the controller stream, and acts on what is the controller's own:
 * orphan pods and health. The reactor, a separate subscriber, acts on decisions. Each step is a
 * function of a small context, in ./steps.
 */
export class Controller {
  cycle = 0;
  private previousTotal: number | null = null;
  private lastTaskCount: { queued: number; active: number; total: number } | null = null;
  private lastDecision: LastDecision | null = null;
  /** Cycles in a row without a valid task count (restored from the record by init). */
  private sourceFailures = 0;
  /** The desired count of the last decision (cancelling a spawn needs lower demand two cycles in a row). */
  private previousDesired: number | null = null;
  /** MODE=shadow: the would-be fleet of the intended actions, which decisions are made from. */
  private readonly shadowFleet = new ShadowFleet();
  private anomaliesSinceSummary: Record<string, number> = {};
  /** The conditions as the last cycle left them (restored from the record by init). */
  private conditionState = new Map<ConditionType, ConditionState>();
  private readonly stream: ControlStream;
  private readonly guard: SpawnGuard;
  // Each step's context: only what it uses.
  private readonly fleetContext: FleetSyncContext & OrphanSweepContext;
  private readonly reactorContext: ReactorWaitContext;
  private readonly observeContext: ObserveContext;
  private readonly decideContext: DecideContext;
  private readonly recordContext: RecordContext;
  private readonly healthContext: PeriodicHealthContext;
  private thresholds: AnomalyThresholds;
  /** The configuration as loaded (or reloaded on SIGHUP); each cycle applies the operators' overrides to it. */
  private baseConfig: Config;
  /** The override ids obeyed last cycle, to say when that changes. */
  private obeyed = '';
  private pendingConditions: ConditionState[] | null = null;
  /** Quarantined events and held-back reads, reported as anomalies. */
  private readonly storeWatch: StoreWatch;

  constructor(private readonly d: ControllerDeps) {
    const { store, source, provider, clock, config, log } = d;
    const settings = controlSettings(config);
    this.stream = new ControlStream(store, log, () => this.init());
    this.guard = new SpawnGuard({
      reads: store.reads,
      clock,
      log,
      provider,
      probeEveryCycles: config.PROVIDER_PROBE_EVERY_CYCLES,
      breaker: {
        windowSec: config.CIRCUIT_BREAKER_WINDOW_SEC,
        minSpawns: config.CIRCUIT_BREAKER_MIN_SPAWNS,
        failureRatio: config.CIRCUIT_BREAKER_FAILURE_RATIO,
      },
    });
    this.fleetContext = { store, provider, clock, log };
    this.reactorContext = { reactorCheckpoint: d.reactorCheckpoint, waitMs: d.reactorWaitMs ?? 5000 };
    this.observeContext = {
      source,
      clock,
      timeoutMs: config.TASK_SOURCE_TIMEOUT_SEC * 1000,
      maxCount: config.TASK_COUNT_MAX,
    };
    this.decideContext = { provider, clock, log, settings, policy: configuredPolicy(config), reads: store.reads };
    this.recordContext = { stream: this.stream, log, source: source.name, settings, newId: d.newId };
    this.healthContext = {
      store,
      clock,
      log,
      checkEvery: config.HEALTH_CHECK_EVERY_CYCLES,
      summaryEvery: config.HEALTH_SUMMARY_EVERY_CYCLES,
      dbLogging: d.dbLogging,
      logDestinations: d.logDestinations,
    };
    this.thresholds = anomalyThresholds(config);
    this.baseConfig = config;
    this.storeWatch = new StoreWatch(store, { now: () => clock.now() });
  }

  /** Restores the cycle number and the last observation from the controller stream. */
  async init(): Promise<void> {
    const tail = await this.d.store.readStreamTail(Streams.controller(DEFAULT_POOL), 50);
    this.stream.version = await this.d.store.streamVersion(Streams.controller(DEFAULT_POOL));
    this.cycle = 0;
    this.sourceFailures = 0;
    this.previousTotal = null;
    this.lastDecision = null;
    this.previousDesired = null;
    this.guard.startedAt = this.d.clock.now();
    for (const e of tail) {
      if ('cycle' in e.data && typeof e.data.cycle === 'number') this.cycle = Math.max(this.cycle, e.data.cycle);
      if (e.type === 'TaskCountRejected') this.sourceFailures += 1;
      if (e.type === 'TaskCountObserved') {
        this.sourceFailures = 0;
        const { queued, active, total } = e.data;
        this.previousTotal = total;
        this.lastTaskCount = { queued, active, total };
      }
      if (e.type === 'ScalingDecided') {
        this.lastDecision = { txId: e.txId, position: e.globalPosition, cycle: e.data.cycle };
        this.previousDesired = e.data.desired;
      }
    }
    // anomalies since the last health summary, so a restart does not make the next summary forget them
    this.anomaliesSinceSummary = await this.d.store.reads.anomalyKindsSinceLastSummary();
    // the conditions as recorded; a refusal that had stopped spawning stays in force until a probe succeeds
    this.conditionState = new Map((await recordedConditions(this.d.store)).map((c) => [c.type, c]));
    const able = this.conditionState.get('AbleToScale');
    const refusal = refusalOf(able);
    this.guard.restore(able && refusal ? { kind: refusal, error: null, at: able.since } : null);
  }

  /** The conditions as the last cycle left them (AbleToScale, ScalingLimited, SourceHealthy, StoreCurrent). */
  conditions(): ConditionState[] {
    return [...this.conditionState.values()];
  }

  /** The conditions after this cycle, and the events of those that changed (recorded in the cycle's batch). */
  private conditionsAfter(
    cycle: number,
    input: ConditionInput,
  ): { events: ConditionEvent[]; changes: ConditionChange[] } {
    const { conditions, changes } = nextConditions(this.conditionState, input);
    this.pendingConditions = conditions;
    const events = changes.map(
      (ch): ConditionEvent => ({
        type: 'ConditionChanged',
        data: { cycle, at: input.at, ...ch.condition, previous: ch.previous },
      }),
    );
    return { events, changes };
  }

  /** Once the cycle's batch is recorded: the conditions stand, and each change is said. */
  private conditionsRecorded(cycle: number, changes: readonly ConditionChange[]): void {
    if (this.pendingConditions) this.conditionState = new Map(this.pendingConditions.map((c) => [c.type, c]));
    this.pendingConditions = null;
    for (const ch of changes) {
      const c = ch.condition;
      const healthy = isHealthy(c);
      const line = `🚦 CONDITION ${conditionChangeText(ch)}`;
      const meta = { cycle, condition: c.type, status: c.status, reason: c.reason };
      // the first record of a healthy condition (a new store) is no news: logged, not mirrored
      if (healthy && ch.previous === null) this.d.log.log('info', line, meta);
      else
        fact(
          this.d.log,
          healthy || c.type === 'ScalingLimited' ? 'notice' : 'crit',
          line,
          meta,
          `CONDITION cycle=${cycle} ${c.type}=${c.status} reason=${c.reason}`,
        );
    }
  }

  /** One cycle: observe, decide, guard, record, act (each a step of ./steps). */
  async runCycle(): Promise<CycleOutcome> {
    const started = performance.now();
    try {
      return await this.cycleSteps();
    } finally {
      this.d.onCycleFinished?.((performance.now() - started) / 1000);
    }
  }

  /** A reloaded configuration (SIGHUP, validated by the service): acts from the next cycle. */
  reconfigure(config: Config): void {
    this.baseConfig = config;
  }

  /**
   * The operators' commands in force now (read from the record: the leader obeys a command from its
   * next cycle), applied to this cycle's settings; expiries recorded. Only the settings a cycle
   * reads each time are taken from the result (the caps, timeouts, policy, source limits, anomaly
   * thresholds, health cadence).
   */
  private async obeyOverrides(cycle: number): Promise<{ config: Config; operator: OperatorInput }> {
    const { store, clock, log } = this.d;
    const now = clock.now();
    const view = await readOverrides(store, now);
    if (view.unrecordedExpiries.length) {
      await recordExpiries(store, view.unrecordedExpiries, now.toISOString(), cycle);
      for (const o of view.unrecordedExpiries) {
        fact(
          log,
          'notice',
          `🎛️ OVERRIDE EXPIRED: ${o.command}${o.key ? ` ${o.key}=${o.value}` : ''} (${o.by}) ended at ${o.until}`,
          { cycle },
        );
      }
    }
    const applied = applyOverrides(this.baseConfig, view.inForce);
    for (const p of applied.problems) log.log('warning', `🎛️ ${p}`, { cycle });
    const ids = applied.inForce.map((o) => o.commandId).join(',');
    if (ids !== this.obeyed) {
      const now = applied.inForce.length
        ? `🎛️ OBEYING: ${applied.inForce.map(overrideText).join('; ')}`
        : '🎛️ No operator override in force: the configuration holds';
      fact(log, 'notice', now, { cycle });
    }
    this.obeyed = ids;
    const config = applied.config;
    const settings = controlSettings(config);
    this.decideContext.settings = settings;
    this.decideContext.policy = configuredPolicy(config);
    this.recordContext.settings = settings;
    this.observeContext.timeoutMs = config.TASK_SOURCE_TIMEOUT_SEC * 1000;
    this.observeContext.maxCount = config.TASK_COUNT_MAX;
    this.healthContext.checkEvery = config.HEALTH_CHECK_EVERY_CYCLES;
    this.healthContext.summaryEvery = config.HEALTH_SUMMARY_EVERY_CYCLES;
    this.thresholds = anomalyThresholds(config);
    return { config, operator: applied };
  }

  private async cycleSteps(): Promise<CycleOutcome> {
    const { store, source } = this.d;
    const cycle = ++this.cycle;
    const { config, operator } = await this.obeyOverrides(cycle);

    // Observe: the projections, then the reactor's progress before the fleet (see reactorCaughtUp)
    await this.d.projections.catchUp();
    const caughtUp = await reactorCaughtUp(this.reactorContext, this.lastDecision);
    // In shadow the fleet decided from is the would-be fleet of the intended actions, and the
    // provider's pods (whoever manages them) are only listed and recorded
    const shadow = config.MODE === 'shadow';
    let fleet = shadow ? await this.shadowFleet.read(store) : await readFleet(store.reads);
    if (shadow) await observeFleet(this.fleetContext, cycle);
    else if (await syncFleet(this.fleetContext, cycle, fleet)) {
      await this.d.projections.catchUp();
      fleet = await readFleet(store.reads);
    }
    const observed = await observeTasks(
      this.observeContext,
      fleet.map((w) => w.workerId),
    );
    const at = this.d.clock.now().toISOString();
    // A task source failing SOURCE_FAILURE_CYCLES cycles in a row: the fallback decides (hold, or FALLBACK_WORKERS)
    const failedBefore = this.sourceFailures;
    this.sourceFailures = observed.ok ? 0 : failedBefore + 1;
    const fallback = observed.ok ? null : sourceFallback(sourceFallbackSettings(config), this.sourceFailures);
    if (!observed.ok && !fallback) {
      const cond = this.conditionsAfter(cycle, {
        at,
        source: { name: source.name, ok: false, reason: observed.reason, failedCycles: this.sourceFailures },
      });
      await recordRejected(this.recordContext, cycle, at, observed, cond.events);
      this.conditionsRecorded(cycle, cond.changes);
      await this.health(cycle, fleet.length);
      return { cycle, kind: 'rejected', reason: observed.reason };
    }
    const lastCount = { queued: this.lastTaskCount?.queued ?? 0, active: this.lastTaskCount?.active ?? 0 };
    const tasks = observed.ok ? observed.value : { ...lastCount, workers: null };

    // Decide (pure policy), then guard it: spawn stops, and a reactor still acting on the last decision
    const decideContext = fallback
      ? { ...this.decideContext, policy: fallbackPolicy(fallback, this.sourceFailures) }
      : this.decideContext;
    // (would-be workers hold no task the source could name: in shadow the policy counts busy workers from active tasks)
    const decideTasks = shadow ? { ...tasks, workers: null } : tasks;
    const decided = await decideScaling(decideContext, cycle, decideTasks, fleet, operator);
    const block = capacityBlock(
      await this.guard.check(cycle),
      this.d.provider.capacityBackoff?.() ?? null,
      this.d.provider.name,
    );
    const guarded = guardDecision(decided, block, caughtUp, this.lastDecision?.cycle);
    const { held } = guarded;
    // Spawns no longer wanted are cancelled only when the reactor has acted on the last decision
    const acted =
      held || !caughtUp
        ? guarded.decision
        : cancelUnwanted({
            now: this.d.clock.now(),
            decision: guarded.decision,
            fleet,
            activity: tasks.workers,
            previousDesired: this.previousDesired,
          });
    const decision = shadow
      ? { ...acted, mode: 'shadow' as const, reasons: [...acted.reasons, SHADOW_NOTE] }
      : { ...acted, mode: 'active' as const };
    const anomalies = [
      ...block.anomalies,
      ...(observed.ok
        ? detectCycleAnomalies(this.thresholds, source.name, this.previousTotal, observed, decision)
        : []),
      ...(await this.storeWatch.incidents()),
    ];

    const cond = this.conditionsAfter(cycle, {
      at,
      spawning: { stop: block.stop, recovered: block.recovered },
      limits: decided.limits,
      source: observed.ok
        ? { name: source.name, ok: true, failedBefore }
        : { name: source.name, ok: false, reason: observed.reason, failedCycles: this.sourceFailures, fallback },
      store: { heldBackBy: this.storeWatch.heldBackBy() },
    });

    // Record the cycle as one atomic batch, and remember it
    const res = observed.ok
      ? await recordCycle(this.recordContext, cycle, at, observed, decision, anomalies, cond.events)
      : await recordFallback(this.recordContext, cycle, at, observed, lastCount, decision, anomalies, cond.events);
    if (!res) {
      this.pendingConditions = null;
      return { cycle, kind: 'skipped', reason: 'another controller wrote this cycle' };
    }
    this.conditionsRecorded(cycle, cond.changes);
    this.lastDecision = { txId: res.txId, position: res.globalPositions[1], cycle };
    this.previousDesired = decision.desired;
    if (observed.ok) {
      const { queued, active } = observed.value;
      this.previousTotal = queued + active;
      this.lastTaskCount = { queued, active, total: queued + active };
    }
    for (const a of anomalies) this.anomaliesSinceSummary[a.kind] = (this.anomaliesSinceSummary[a.kind] ?? 0) + 1;

    // Act on what is the controller's own: orphan pods, health checks and summaries
    // (not in shadow: the pods belong to whatever else manages the fleet)
    if (cycle % config.RECONCILE_EVERY_CYCLES === 0 && !shadow) await sweepOrphans(this.fleetContext, cycle);
    await this.health(cycle, fleet.length + (decision.decision === 'SCALE_UP' ? decision.delta : 0));
    return { cycle, kind: 'decided', decision, anomalies, held };
  }

  private async health(cycle: number, workerCount: number): Promise<void> {
    const s = { lastTaskCount: this.lastTaskCount, workerCount, anomalyKinds: this.anomaliesSinceSummary };
    if (await periodicHealth(this.healthContext, cycle, s)) this.anomaliesSinceSummary = {};
  }
}
