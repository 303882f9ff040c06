import fs from 'node:fs';
import path from 'node:path';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { DEFAULT_POOL } from '../../events/common';
import { type ConditionState, ConditionStatus } from '../../events/condition';
import type { DbLoggingStats } from '../../events/health';
import type { AppEventType } from '../../events/index';
import { CONDITION_TYPES } from '../control/conditions';
import type { StoredEvent } from '../store/event-store';
import { packageRoot } from '../util/package-root';

/** What the scrape reads at the moment it is made (the store's projections, logging's counters). */
export interface ScrapeSources {
  /** Live workers of each pool by status (spawning, active, terminating): pool -> status -> count. */
  workersByStatus(): Promise<Record<string, Record<string, number>>>;
  /** USD per hour of each pool's live fleet (pool -> USD/h); null when a worker's price is unknown. */
  burnUsdPerHour(): Promise<Record<string, number | null>>;
  /** The provider's name (the burn rate's label). */
  providerName: string;
  /** Events behind the head, per projection (and other checkpointed subscriber). */
  projectionLag(): Promise<Record<string, number>>;
  dbLogging(): DbLoggingStats;
  /** Each pool's conditions (AbleToScale, ScalingLimited, SourceHealthy, StoreCurrent) as they stand; absent: not exported. */
  conditions?(): Promise<readonly { pool: string; conditions: readonly ConditionState[] }[]>;
  /** The parked pods and their disk cost (docs/parked-pods.md); absent: not exported. */
  parked?(): Promise<{ count: number; usdPerHour: number; unknownPrices: number }>;
}

/** This build's version (package.json), for gpu_scaler_build_info. */
function buildVersion(): string {
  try {
    const pkg: unknown = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8'));
    return typeof pkg === 'object' && pkg !== null && 'version' in pkg ? String(pkg.version) : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The event types the metrics count: the only ones their feed reads. */
export const METRIC_EVENT_TYPES: readonly AppEventType[] = [
  'TaskCountObserved',
  'TaskCountRejected',
  'ScalingDecided',
  'AnomalyDetected',
  'WorkerSpawned',
  'WorkerSpawnFailed',
  // parking and start-to-ready: cold requests and starts from parked, to their activation
  'WorkerSpawnRequested',
  'WorkerActivated',
  'WorkerParked',
  'WorkerUnparked',
  'WorkerUnparkRefused',
];

/**
 * The metrics that are the process's or the store's, not a pool's: they have no `pool` label (every
 * other gpu_scaler_ metric has one; a one-pool deployment's is `pool="default"`).
 */
export const PROCESS_METRICS: readonly string[] = [
  'gpu_scaler_build_info',
  'gpu_scaler_projection_lag_events',
  'gpu_scaler_event_store_append_duration_seconds',
  'gpu_scaler_db_logging_queue_size',
  'gpu_scaler_db_logging_dropped_total',
  'gpu_scaler_db_logging_failed_total',
  'gpu_scaler_parked_pods',
  'gpu_scaler_parked_disk_usd_per_hour',
];

/** The hooks of one pool's control loop (Metrics.forPool): what it measures, labelled with its pool. */
export interface PoolMetrics {
  readonly pool: string;
  cycleFinished(seconds: number): void;
  cycleStarted(lateSeconds: number): void;
  providerCall(operation: string, status: string, seconds: number): void;
  /** Whether this replica leads the pool (gpu_scaler_leader). */
  setLeader(leading: boolean): void;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Every metric gpu-scaler exports, on a registry of its own (prom-client's default registry is
 * process-wide). Facts of the record (task counts, decisions, spawns, anomalies) are counted from
 * the events (`observeEvents`); timings come through small hooks (`cycleFinished`, `providerCall`,
 * `appendFinished`); the rest is read when scraped (`ScrapeSources`).
 */
export class Metrics {
  readonly registry = new Registry();
  private sources: ScrapeSources | null = null;

  readonly tasksQueued = this.gauge('gpu_scaler_tasks_queued', 'Queued tasks, as the task source last reported');
  readonly tasksActive = this.gauge('gpu_scaler_tasks_active', 'Active (running) tasks, as last reported');
  readonly tasksTotal = this.gauge('gpu_scaler_tasks', 'Queued plus active tasks, as last reported');
  readonly desiredWorkers = this.gauge('gpu_scaler_desired_workers', 'Workers the last decision wanted');
  private readonly leaderGauge = this.gauge(
    'gpu_scaler_leader',
    'Per pool: 1 when this replica leads it (runs its control loop), else 0',
  );
  /** gpu_scaler_leader: `set(1)` is pool default's (a deployment of today); a pool's loop uses forPool(pool).setLeader. */
  readonly leader = {
    set: (value: number, pool: string = DEFAULT_POOL) => this.leaderGauge.set({ pool }, value),
  };
  readonly decisions = new Counter({
    name: 'gpu_scaler_decisions_total',
    help: 'Scaling decisions by kind',
    labelNames: ['pool', 'decision'] as const,
    registers: [this.registry],
  });
  readonly taskCountsRejected = new Counter({
    name: 'gpu_scaler_task_counts_rejected_total',
    help: 'Task counts rejected (malformed, absurd, too slow, failed)',
    labelNames: ['pool'] as const,
    registers: [this.registry],
  });
  readonly spawns = new Counter({
    name: 'gpu_scaler_spawns_total',
    help: 'Workers spawned',
    labelNames: ['pool'] as const,
    registers: [this.registry],
  });
  readonly spawnFailures = new Counter({
    name: 'gpu_scaler_spawn_failures_total',
    help: 'Failed or refused spawns by reason (capacity, error, auth, billing, stale, blocked, ...)',
    labelNames: ['pool', 'reason'] as const,
    registers: [this.registry],
  });
  readonly parks = new Counter({
    name: 'gpu_scaler_parked_total',
    help: 'Idle workers parked (pod stopped, disk kept) instead of terminated',
    labelNames: ['pool'] as const,
    registers: [this.registry],
  });
  readonly unparks = new Counter({
    name: 'gpu_scaler_unparked_total',
    help: 'Parked pods started again for a wanted worker',
    labelNames: ['pool'] as const,
    registers: [this.registry],
  });
  readonly unparksRefused = new Counter({
    name: 'gpu_scaler_unpark_refused_total',
    help: 'Starts of parked pods refused (the pod was terminated and a new one created)',
    labelNames: ['pool'] as const,
    registers: [this.registry],
  });
  readonly startToReady = new Histogram({
    name: 'gpu_scaler_start_to_ready_seconds',
    help: 'From a cold spawn request or a start of a parked pod to the worker being up',
    labelNames: ['pool', 'origin'] as const,
    buckets: [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600],
    registers: [this.registry],
  });
  /** Starts not yet up, by worker: where each came from and when. */
  private readonly starting = new Map<string, { origin: 'cold' | 'unparked'; at: number }>();
  readonly anomalies = new Counter({
    name: 'gpu_scaler_anomalies_total',
    help: 'Anomalies detected by kind',
    labelNames: ['pool', 'kind'] as const,
    registers: [this.registry],
  });
  readonly sourceLatency = new Histogram({
    name: 'gpu_scaler_task_source_duration_seconds',
    help: "The task source's response time",
    labelNames: ['pool', 'source'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly cycleDuration = new Histogram({
    name: 'gpu_scaler_cycle_duration_seconds',
    help: "A control cycle's duration (observe, decide, record, act)",
    labelNames: ['pool'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  /** How late the last cycle started against its schedule (what a slow cycle or a blocked process costs). */
  readonly cycleLateness = new Gauge({
    name: 'gpu_scaler_cycle_lateness_seconds',
    help: 'How late the last control cycle started: its start minus (the previous start + POLL_INTERVAL_SEC); 0 on time',
    labelNames: ['pool'] as const,
    registers: [this.registry],
  });
  readonly appendLatency = new Histogram({
    name: 'gpu_scaler_event_store_append_duration_seconds',
    help: 'Event store appends (one atomic batch each)',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly providerCalls = new Counter({
    name: 'gpu_scaler_provider_calls_total',
    help: 'GPU provider API calls by operation and status (ok, or the error kind)',
    labelNames: ['pool', 'operation', 'status'] as const,
    registers: [this.registry],
  });
  readonly providerLatency = new Histogram({
    name: 'gpu_scaler_provider_call_duration_seconds',
    help: 'GPU provider API calls by operation',
    labelNames: ['pool', 'operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /** `pools`: every pool the process scales (each gets gpu_scaler_leader 0 until it leads; default: `default`). */
  constructor(o: { pools?: readonly string[] } = {}) {
    const self = this;
    for (const pool of o.pools ?? [DEFAULT_POOL]) this.leaderGauge.set({ pool }, 0);
    // the process and Node.js metrics (CPU, memory, event loop lag, GC, handles), unprefixed as is usual
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'gpu_scaler_build_info',
      help: "This build: gpu-scaler's version and Node.js's (always 1)",
      labelNames: ['version', 'node_version'] as const,
      registers: [this.registry],
    }).set({ version: buildVersion(), node_version: process.version }, 1);
    new Gauge({
      name: 'gpu_scaler_condition',
      help: 'Each condition (AbleToScale, ScalingLimited, SourceHealthy, StoreCurrent): 1 for the status it has, 0 for the others',
      labelNames: ['pool', 'type', 'status'] as const,
      registers: [this.registry],
      async collect() {
        if (!self.sources?.conditions) return;
        const pools = await self.sources.conditions();
        this.reset();
        for (const { pool, conditions } of pools) {
          for (const type of CONDITION_TYPES) {
            const c = conditions.find((x) => x.type === type);
            if (!c) continue;
            for (const status of ConditionStatus.options) this.set({ pool, type, status }, c.status === status ? 1 : 0);
          }
        }
      },
    });
    new Gauge({
      name: 'gpu_scaler_workers',
      help: 'Live workers by status',
      labelNames: ['pool', 'status'] as const,
      registers: [this.registry],
      async collect() {
        if (!self.sources) return;
        const pools = await self.sources.workersByStatus();
        this.reset();
        for (const [pool, by] of Object.entries(pools))
          for (const status of ['spawning', 'active', 'terminating']) this.set({ pool, status }, by[status] ?? 0);
      },
    });
    new Gauge({
      name: 'gpu_scaler_burn_rate_usd_per_hour',
      help: "The live fleet's burn rate, USD per hour (absent when a worker's price is unknown)",
      labelNames: ['pool', 'provider'] as const,
      registers: [this.registry],
      async collect() {
        if (!self.sources) return;
        const pools = await self.sources.burnUsdPerHour();
        this.reset();
        for (const [pool, usd] of Object.entries(pools))
          if (usd !== null) this.set({ pool, provider: self.sources.providerName }, usd);
      },
    });
    new Gauge({
      name: 'gpu_scaler_projection_lag_events',
      help: 'Events between the head of the store and each projection checkpoint',
      labelNames: ['projection'] as const,
      registers: [this.registry],
      async collect() {
        if (!self.sources) return;
        const lag = await self.sources.projectionLag();
        this.reset();
        for (const [projection, n] of Object.entries(lag)) this.set({ projection }, n);
      },
    });
    new Gauge({
      name: 'gpu_scaler_parked_pods',
      help: 'Parked pods (stopped, disk kept): in no GPU cap and no burn rate',
      registers: [this.registry],
      async collect() {
        const p = await self.sources?.parked?.();
        this.set(p?.count ?? 0);
      },
    });
    new Gauge({
      name: 'gpu_scaler_parked_disk_usd_per_hour',
      help: "What the parked pods' disks bill, USD per hour (PARKED_HOURLY_USD each; absent when a price is unknown)",
      registers: [this.registry],
      async collect() {
        const p = await self.sources?.parked?.();
        this.reset();
        if (p && p.unknownPrices === 0) this.set(p.usdPerHour);
      },
    });
    const db = () => self.sources?.dbLogging() ?? null;
    new Gauge({
      name: 'gpu_scaler_db_logging_queue_size',
      help: 'Log lines waiting to be written to system_logs',
      registers: [this.registry],
      collect() {
        this.set(db()?.queueSize ?? 0);
      },
    });
    // Counters kept by logging itself: exported as counters whose value is read when scraped.
    new Counter({
      name: 'gpu_scaler_db_logging_dropped_total',
      help: 'Log lines dropped because the system_logs queue was full',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(db()?.dropped ?? 0);
      },
    });
    new Counter({
      name: 'gpu_scaler_db_logging_failed_total',
      help: 'Log lines that could not be written to system_logs',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(db()?.failed ?? 0);
      },
    });
  }

  /** A gauge of each pool. */
  private gauge(name: string, help: string): Gauge<'pool'> {
    return new Gauge({ name, help, labelNames: ['pool'] as const, registers: [this.registry] });
  }

  /** The hooks of one pool's loop, labelled with its pool (what src/system.ts and src/service.ts pass a pool's parts). */
  forPool(pool: string): PoolMetrics {
    return {
      pool,
      cycleFinished: (seconds) => this.cycleFinished(seconds, pool),
      cycleStarted: (lateSeconds) => this.cycleStarted(lateSeconds, pool),
      providerCall: (operation, status, seconds) => this.providerCall(operation, status, seconds, pool),
      setLeader: (leading) => this.leader.set(leading ? 1 : 0, pool),
    };
  }

  /** Where the scrape-time values come from (the service's store and logging). */
  setSources(sources: ScrapeSources): void {
    this.sources = sources;
  }

  /** Counts the facts of new events (each event once: the feed reads each once). */
  observeEvents(events: readonly StoredEvent[]): void {
    for (const e of events) {
      switch (e.type) {
        case 'TaskCountObserved': {
          const pool = e.data.pool;
          this.tasksQueued.set({ pool }, e.data.queued);
          this.tasksActive.set({ pool }, e.data.active);
          this.tasksTotal.set({ pool }, e.data.total);
          this.sourceLatency.observe({ pool, source: e.data.source }, e.data.responseMs / 1000);
          break;
        }
        case 'TaskCountRejected':
          this.taskCountsRejected.inc({ pool: e.data.pool });
          this.sourceLatency.observe({ pool: e.data.pool, source: e.data.source }, e.data.responseMs / 1000);
          break;
        case 'ScalingDecided':
          this.decisions.inc({ pool: e.data.pool, decision: e.data.decision });
          this.desiredWorkers.set({ pool: e.data.pool }, e.data.desired);
          break;
        case 'AnomalyDetected':
          this.anomalies.inc({ pool: e.data.pool, kind: e.data.kind });
          break;
        case 'WorkerSpawned':
          this.spawns.inc({ pool: e.data.pool });
          break;
        case 'WorkerSpawnFailed':
          this.spawnFailures.inc({ pool: e.data.pool, reason: e.data.kind });
          this.starting.delete(e.data.workerId);
          break;
        case 'WorkerSpawnRequested':
          this.starting.set(e.data.workerId, { origin: 'cold', at: Date.parse(e.data.at) });
          break;
        case 'WorkerUnparked':
          this.unparks.inc({ pool: e.data.pool });
          this.starting.set(e.data.workerId, { origin: 'unparked', at: Date.parse(e.data.at) });
          break;
        case 'WorkerActivated': {
          const s = this.starting.get(e.data.workerId);
          this.starting.delete(e.data.workerId);
          if (s)
            this.startToReady.observe(
              { pool: e.data.pool, origin: s.origin },
              Math.max(0, (Date.parse(e.data.at) - s.at) / 1000),
            );
          break;
        }
        case 'WorkerParked':
          this.parks.inc({ pool: e.data.pool });
          this.starting.delete(e.data.workerId);
          break;
        case 'WorkerUnparkRefused':
          this.unparksRefused.inc({ pool: e.data.pool });
          break;
      }
    }
  }

  /** A cycle of `pool` took `seconds` (a pool's loop: forPool(pool).cycleFinished). */
  cycleFinished(seconds: number, pool: string = DEFAULT_POOL): void {
    this.cycleDuration.observe({ pool }, seconds);
  }

  /** A cycle of `pool` started `lateSeconds` after it was due (0: on time). */
  cycleStarted(lateSeconds: number, pool: string = DEFAULT_POOL): void {
    this.cycleLateness.set({ pool }, Math.max(0, lateSeconds));
  }

  appendFinished(seconds: number): void {
    this.appendLatency.observe(seconds);
  }

  /** A provider call of `pool`'s provider (a pool's loop: forPool(pool).providerCall, via meteredProvider). */
  providerCall(operation: string, status: string, seconds: number, pool: string = DEFAULT_POOL): void {
    this.providerCalls.inc({ pool, operation, status });
    this.providerLatency.observe({ pool, operation }, seconds);
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
