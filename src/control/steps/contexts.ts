import type { DbLoggingStats, LogDestinationStats } from '../../../events/health';
import { DEFAULT_POOL, type PoolName } from '../../../events/index';
import type { Clock } from '../../clock';
import type { Config } from '../../config';
import type { PoolsPlan } from '../../pools/plan';
import type { ProjectionRunner } from '../../projections/runner';
import type { Provider } from '../../providers/provider';
import { ShadowFleet } from '../../shadow/fleet';
import type { TaskSource } from '../../sources/source';
import type { Checkpoint, EventStore } from '../../store/event-store';
import { StoreWatch } from '../../store/store-watch';
import type { ControlStream } from '../control-stream';
import type { ControlLog } from '../log';
import type { ActContext } from './act';
import { configuredPolicy, controlSettings, type DecideContext } from './decide';
import { anomalyThresholds, type DetectContext } from './detect';
import { sourceFallbackSettings } from './fallback';
import type { ModeContext } from './mode';
import type { SourceContext } from './observe';
import type { OverridesContext } from './overrides';
import type { ReactorWaitContext } from './reactor-wait';
import type { RecordContext } from './record';
import { type GuardContext, SpawnGuard } from './spawn-guard';

export interface ControllerDeps {
  store: EventStore;
  /** The pool this controller scales (default: `default`, a deployment of today): its streams, its history, its fleet. */
  pool?: PoolName;
  /** Every pool and the global caps (src/pools/plan.ts); absent: this pool alone, no global cap. */
  plan?: PoolsPlan;
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

/** Each step's context: only what it uses. The settings a cycle reads each time are set by settle. */
export interface CycleContexts {
  log: ControlLog;
  overrides: OverridesContext;
  mode: ModeContext;
  reactor: ReactorWaitContext;
  source: SourceContext;
  decide: DecideContext;
  guard: GuardContext;
  detect: DetectContext;
  record: RecordContext;
  act: ActContext;
}

/**
 * Another pool's last want counts in the global budget while its decision is at most this many
 * cycles old; after that (its controller stopped, or lost its leader) what it holds counts.
 */
export const BUDGET_FRESH_CYCLES = 3;

// The settings a cycle reads each time, by step (operators' overrides apply to them)
const sourceSettings = (c: Config) => ({
  timeoutMs: c.TASK_SOURCE_TIMEOUT_SEC * 1000,
  maxCount: c.TASK_COUNT_MAX,
  fallback: sourceFallbackSettings(c),
});
const decideSettings = (c: Config) => ({ settings: controlSettings(c), policy: configuredPolicy(c) });
const healthSettings = (c: Config) => ({
  checkEvery: c.HEALTH_CHECK_EVERY_CYCLES,
  summaryEvery: c.HEALTH_SUMMARY_EVERY_CYCLES,
});

/** The steps' contexts for a controller of `d`, writing to `stream`, with d.config's settings. */
export function cycleContexts(d: ControllerDeps, stream: ControlStream): CycleContexts {
  const { store, source, provider, clock, config, log } = d;
  const pool = d.pool ?? DEFAULT_POOL;
  const fleet = { store, provider, clock, log, pool };
  const guard = new SpawnGuard({
    reads: store.reads,
    clock,
    log,
    provider,
    probeEveryCycles: config.PROVIDER_PROBE_EVERY_CYCLES,
    pool,
    breaker: {
      windowSec: config.CIRCUIT_BREAKER_WINDOW_SEC,
      minSpawns: config.CIRCUIT_BREAKER_MIN_SPAWNS,
      failureRatio: config.CIRCUIT_BREAKER_FAILURE_RATIO,
    },
  });
  return {
    log,
    overrides: { store, clock, log, pool },
    mode: { ...fleet, projections: d.projections, shadowFleet: new ShadowFleet(pool) },
    reactor: { reactorCheckpoint: d.reactorCheckpoint, waitMs: d.reactorWaitMs ?? 5000 },
    source: { source, clock, ...sourceSettings(config) },
    decide: {
      provider,
      clock,
      log,
      reads: store.reads,
      pool,
      ...(d.plan ? { budget: { plan: d.plan, freshSec: BUDGET_FRESH_CYCLES * config.POLL_INTERVAL_SEC } } : {}),
      ...decideSettings(config),
    },
    guard: { guard, provider },
    detect: {
      thresholds: anomalyThresholds(config),
      source: source.name,
      storeWatch: new StoreWatch(store, { now: () => clock.now() }),
    },
    record: { stream, log, source: source.name, settings: controlSettings(config), newId: d.newId },
    act: {
      sweep: fleet,
      reconcileEvery: config.RECONCILE_EVERY_CYCLES,
      health: {
        store,
        clock,
        log,
        pool,
        dbLogging: d.dbLogging,
        logDestinations: d.logDestinations,
        ...healthSettings(config),
      },
    },
  };
}

/** This cycle's settings (the configuration with the operators' overrides applied) into the steps' contexts. */
export function settle(ctx: CycleContexts, config: Config): void {
  Object.assign(ctx.source, sourceSettings(config));
  Object.assign(ctx.decide, decideSettings(config));
  ctx.record.settings = ctx.decide.settings;
  ctx.detect.thresholds = anomalyThresholds(config);
  Object.assign(ctx.act.health, healthSettings(config));
  ctx.act.reconcileEvery = config.RECONCILE_EVERY_CYCLES;
}
