import { DEFAULT_POOL, type PoolName } from '../events/common';
import type { DbLoggingStats, LogDestinationStats } from '../events/health';
import { ALL_PROJECTIONS } from '../projections/index';
import type { Clock } from './clock';
import { type Config, decisionStaleSec } from './config';
import { Controller } from './control/controller';
import type { ControlLog } from './control/log';
import { BUDGET_FRESH_CYCLES } from './control/steps/contexts';
import { meteredProvider } from './observe/metered-provider';
import type { Metrics } from './observe/metrics';
import type { PoolsPlan } from './pools/plan';
import { ProjectionRunner } from './projections/runner';
import { kubernetesProviderFromConfig } from './providers/kubernetes/index';
import { localProviderFromConfig } from './providers/local';
import type { Provider } from './providers/provider';
import { runpodProviderFromConfig } from './providers/runpod/index';
import { SimulatedProvider, simulatedProviderFromConfig } from './providers/simulated';
import { Reactor, reactorCheckpointName } from './reactor/reactor';
import { createHttpSource } from './sources/http';
import type { SharedRequests } from './sources/shared';
import type { TaskSource } from './sources/source';
import { createSqlSource } from './sources/sql';
import { TasksTableSource } from './sources/tasks-table';
import { loadCheckpoint } from './store/checkpoints';
import type { EventStore } from './store/event-store';
import { SimulatedWorkers } from './workers/simulated';

export interface SystemOptions {
  store: EventStore;
  /** The pool this system scales (default: `default`, a deployment of today). */
  pool?: PoolName;
  /** Every pool and the global caps (default: this pool alone, no global cap): src/pools/plan.ts. */
  plan?: PoolsPlan;
  config: Config;
  clock: Clock;
  log: ControlLog;
  dbLogging: () => DbLoggingStats;
  /** Failed writes to stdout, stderr and the log file (for the health check). */
  logDestinations?: () => LogDestinationStats[];
  /** Defaults from config: PROVIDER and TASK_SOURCE. */
  provider?: Provider;
  source?: TaskSource;
  /** Real ms the controller waits for a lagging reactor before holding (default 5000). */
  reactorWaitMs?: number;
  /** Correlation and decision ids (default random UUIDs; a simulation passes seeded ones). */
  newId?: () => string;
  /** Where cycle durations and provider calls are measured (the service's /metrics); none by default. */
  metrics?: Metrics;
  /**
   * The projections to keep current (default: a runner of its own). Several pools in one process
   * share one runner: the projections are the store's, not a pool's, and two runners on the same
   * checkpoints would move them under each other.
   */
  projections?: ProjectionRunner;
  /** Requests the pools of one process share per cycle (http sources asking the same): src/sources/shared.ts. */
  sharedRequests?: SharedRequests;
}

/** Everything the control loop needs, wired once for the service, the tests, the demo and simulations. */
export interface System {
  store: EventStore;
  config: Config;
  clock: Clock;
  controller: Controller;
  reactor: Reactor;
  projections: ProjectionRunner;
  provider: Provider;
  source: TaskSource;
  /** Simulated workers working the tasks table (simulated provider only). */
  simWorkers: SimulatedWorkers | null;
  /** One deterministic step: workers work, a cycle runs, the reactor acts, the projections follow. */
  step(): ReturnType<Controller['runCycle']>;
}

export function makeProvider(config: Config, clock: Clock, log?: ControlLog): Provider {
  switch (config.PROVIDER) {
    case 'local':
      return localProviderFromConfig(config, clock);
    case 'runpod':
      return runpodProviderFromConfig(config, clock, log ? (level, message) => log.log(level, message) : undefined);
    case 'kubernetes':
      return kubernetesProviderFromConfig(config, clock, log ? (level, message) => log.log(level, message) : undefined);
    case 'simulated':
      return simulatedProviderFromConfig(config, clock);
  }
}

function makeSource(config: Config, store: EventStore, pool: PoolName, shared?: SharedRequests): TaskSource {
  switch (config.TASK_SOURCE) {
    case 'tasks-table':
      return new TasksTableSource(store.db, pool);
    case 'http':
      return createHttpSource({
        url: config.TASK_COUNT_URL ?? '',
        key: config.TASK_COUNT_KEY ?? null,
        method: config.TASK_COUNT_METHOD,
        body: JSON.parse(config.TASK_COUNT_BODY),
        queuedPath: config.TASK_COUNT_QUEUED_PATH,
        activePath: config.TASK_COUNT_ACTIVE_PATH,
        workersPath: config.TASK_COUNT_WORKERS_PATH ?? null,
        timeoutMs: config.TASK_SOURCE_TIMEOUT_SEC * 1000,
        ...(shared ? { shared } : {}),
      });
    case 'sql':
      return createSqlSource({
        query: config.TASK_COUNT_SQL ?? '',
        url: config.TASKS_DATABASE_URL ?? null,
        db: store.db,
        statementTimeoutMs: Math.max(1, Math.round(config.TASK_SOURCE_TIMEOUT_SEC * 1000)),
      });
  }
}

export async function buildSystem(o: SystemOptions): Promise<System> {
  const provider = o.provider ?? makeProvider(o.config, o.clock, o.log);
  // the reactor and the controller call the provider through the meter; System.provider stays the provider itself
  const pool = o.pool ?? DEFAULT_POOL;
  const poolMetrics = o.metrics?.forPool(pool);
  const calls = poolMetrics ? meteredProvider(provider, poolMetrics) : provider;
  const source = o.source ?? makeSource(o.config, o.store, pool, o.sharedRequests);
  const projections = o.projections ?? new ProjectionRunner(o.store, ALL_PROJECTIONS);
  const reactor = new Reactor({
    store: o.store,
    pool,
    ...(o.plan ? { plan: o.plan, budgetFreshSec: BUDGET_FRESH_CYCLES * o.config.POLL_INTERVAL_SEC } : {}),
    provider: calls,
    clock: o.clock,
    log: o.log,
    staleAfterMs: decisionStaleSec(o.config) * 1000,
    maxActiveGpus: o.config.MAX_ACTIVE_GPUS,
    maxHourlyCostUsd: o.config.MAX_HOURLY_COST_USD ?? null,
    parking: {
      max: o.config.PARKED_MAX,
      maxAgeSec: o.config.PARKED_MAX_AGE_SEC,
      hourlyUsd: o.config.PARKED_HOURLY_USD ?? null,
    },
  });
  const controller = new Controller({
    store: o.store,
    pool,
    ...(o.plan ? { plan: o.plan } : {}),
    source,
    provider: calls,
    clock: o.clock,
    config: o.config,
    log: o.log,
    projections,
    dbLogging: o.dbLogging,
    logDestinations: o.logDestinations,
    reactorCheckpoint: () => loadCheckpoint(o.store.db, reactorCheckpointName(pool)),
    reactorWaitMs: o.reactorWaitMs,
    newId: o.newId,
    onCycleFinished: poolMetrics ? (sec) => poolMetrics.cycleFinished(sec) : undefined,
  });
  await controller.init();
  const simWorkers =
    provider instanceof SimulatedProvider
      ? new SimulatedWorkers(o.store.db, provider, o.clock, o.config.SIM_TASK_SEC, pool)
      : null;
  return {
    store: o.store,
    config: o.config,
    clock: o.clock,
    controller,
    reactor,
    projections,
    provider,
    source,
    simWorkers,
    async step() {
      await simWorkers?.tick();
      const outcome = await controller.runCycle();
      await reactor.catchUp();
      await projections.catchUp();
      return outcome;
    },
  };
}
