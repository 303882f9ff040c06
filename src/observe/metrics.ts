import fs from 'node:fs';
import path from 'node:path';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type ConditionState, ConditionStatus } from '../../events/condition';
import type { DbLoggingStats } from '../../events/health';
import type { AppEventType } from '../../events/index';
import { CONDITION_TYPES } from '../control/conditions';
import type { StoredEvent } from '../store/event-store';
import { packageRoot } from '../util/package-root';

/** What the scrape reads at the moment it is made (the store's projections, logging's counters). */
export interface ScrapeSources {
  /** Live workers by status (spawning, active, terminating). */
  workersByStatus(): Promise<Record<string, number>>;
  /** USD per hour of the live fleet; null when a worker's price is unknown. */
  burnUsdPerHour(): Promise<number | null>;
  /** The provider's name (the burn rate's label). */
  providerName: string;
  /** Events behind the head, per projection (and other checkpointed subscriber). */
  projectionLag(): Promise<Record<string, number>>;
  dbLogging(): DbLoggingStats;
  /** The conditions (AbleToScale, ScalingLimited, SourceHealthy, StoreCurrent) as they stand; absent: not exported. */
  conditions?(): Promise<readonly ConditionState[]>;
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
  readonly decisions = new Counter({
    name: 'gpu_scaler_decisions_total',
    help: 'Scaling decisions by kind',
    labelNames: ['decision'] as const,
    registers: [this.registry],
  });
  readonly taskCountsRejected = new Counter({
    name: 'gpu_scaler_task_counts_rejected_total',
    help: 'Task counts rejected (malformed, absurd, too slow, failed)',
    registers: [this.registry],
  });
  readonly spawns = new Counter({
    name: 'gpu_scaler_spawns_total',
    help: 'Workers spawned',
    registers: [this.registry],
  });
  readonly spawnFailures = new Counter({
    name: 'gpu_scaler_spawn_failures_total',
    help: 'Failed or refused spawns by reason (capacity, error, auth, billing, stale, blocked, ...)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly parks = new Counter({
    name: 'gpu_scaler_parked_total',
    help: 'Idle workers parked (pod stopped, disk kept) instead of terminated',
    registers: [this.registry],
  });
  readonly unparks = new Counter({
    name: 'gpu_scaler_unparked_total',
    help: 'Parked pods started again for a wanted worker',
    registers: [this.registry],
  });
  readonly unparksRefused = new Counter({
    name: 'gpu_scaler_unpark_refused_total',
    help: 'Starts of parked pods refused (the pod was terminated and a new one created)',
    registers: [this.registry],
  });
  readonly startToReady = new Histogram({
    name: 'gpu_scaler_start_to_ready_seconds',
    help: 'From a cold spawn request or a start of a parked pod to the worker being up',
    labelNames: ['origin'] as const,
    buckets: [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600],
    registers: [this.registry],
  });
  /** Starts not yet up, by worker: where each came from and when. */
  private readonly starting = new Map<string, { origin: 'cold' | 'unparked'; at: number }>();
  readonly anomalies = new Counter({
    name: 'gpu_scaler_anomalies_total',
    help: 'Anomalies detected by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly sourceLatency = new Histogram({
    name: 'gpu_scaler_task_source_duration_seconds',
    help: "The task source's response time",
    labelNames: ['source'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly cycleDuration = new Histogram({
    name: 'gpu_scaler_cycle_duration_seconds',
    help: "A control cycle's duration (observe, decide, record, act)",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  /** How late the last cycle started against its schedule (what a slow cycle or a blocked process costs). */
  readonly cycleLateness = new Gauge({
    name: 'gpu_scaler_cycle_lateness_seconds',
    help: 'How late the last control cycle started: its start minus (the previous start + POLL_INTERVAL_SEC); 0 on time',
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
    labelNames: ['operation', 'status'] as const,
    registers: [this.registry],
  });
  readonly providerLatency = new Histogram({
    name: 'gpu_scaler_provider_call_duration_seconds',
    help: 'GPU provider API calls by operation',
    labelNames: ['operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /** 1 while this replica holds the leader lock (and runs cycles), else 0. */
  readonly leader = this.gauge('gpu_scaler_leader', '1 when this replica leads (runs the control loop), else 0');

  constructor() {
    const self = this;
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
      labelNames: ['type', 'status'] as const,
      registers: [this.registry],
      async collect() {
        if (!self.sources?.conditions) return;
        const conditions = await self.sources.conditions();
        this.reset();
        for (const type of CONDITION_TYPES) {
          const c = conditions.find((x) => x.type === type);
          if (!c) continue;
          for (const status of ConditionStatus.options) this.set({ type, status }, c.status === status ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'gpu_scaler_workers',
      help: 'Live workers by status',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        if (!self.sources) return;
        const by = await self.sources.workersByStatus();
        this.reset();
        for (const status of ['spawning', 'active', 'terminating']) this.set({ status }, by[status] ?? 0);
      },
    });
    new Gauge({
      name: 'gpu_scaler_burn_rate_usd_per_hour',
      help: "The live fleet's burn rate, USD per hour (absent when a worker's price is unknown)",
      labelNames: ['provider'] as const,
      registers: [this.registry],
      async collect() {
        if (!self.sources) return;
        const usd = await self.sources.burnUsdPerHour();
        this.reset();
        if (usd !== null) this.set({ provider: self.sources.providerName }, usd);
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

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] });
  }

  /** Where the scrape-time values come from (the service's store and logging). */
  setSources(sources: ScrapeSources): void {
    this.sources = sources;
  }

  /** Counts the facts of new events (each event once: the feed reads each once). */
  observeEvents(events: readonly StoredEvent[]): void {
    for (const e of events) {
      switch (e.type) {
        case 'TaskCountObserved':
          this.tasksQueued.set(e.data.queued);
          this.tasksActive.set(e.data.active);
          this.tasksTotal.set(e.data.total);
          this.sourceLatency.observe({ source: e.data.source }, e.data.responseMs / 1000);
          break;
        case 'TaskCountRejected':
          this.taskCountsRejected.inc();
          this.sourceLatency.observe({ source: e.data.source }, e.data.responseMs / 1000);
          break;
        case 'ScalingDecided':
          this.decisions.inc({ decision: e.data.decision });
          this.desiredWorkers.set(e.data.desired);
          break;
        case 'AnomalyDetected':
          this.anomalies.inc({ kind: e.data.kind });
          break;
        case 'WorkerSpawned':
          this.spawns.inc();
          break;
        case 'WorkerSpawnFailed':
          this.spawnFailures.inc({ reason: e.data.kind });
          this.starting.delete(e.data.workerId);
          break;
        case 'WorkerSpawnRequested':
          this.starting.set(e.data.workerId, { origin: 'cold', at: Date.parse(e.data.at) });
          break;
        case 'WorkerUnparked':
          this.unparks.inc();
          this.starting.set(e.data.workerId, { origin: 'unparked', at: Date.parse(e.data.at) });
          break;
        case 'WorkerActivated': {
          const s = this.starting.get(e.data.workerId);
          this.starting.delete(e.data.workerId);
          if (s) this.startToReady.observe({ origin: s.origin }, Math.max(0, (Date.parse(e.data.at) - s.at) / 1000));
          break;
        }
        case 'WorkerParked':
          this.parks.inc();
          this.starting.delete(e.data.workerId);
          break;
        case 'WorkerUnparkRefused':
          this.unparksRefused.inc();
          break;
      }
    }
  }

  cycleFinished(seconds: number): void {
    this.cycleDuration.observe(seconds);
  }

  /** A cycle started `seconds` after it was due (0: on time). */
  cycleStarted(lateSeconds: number): void {
    this.cycleLateness.set(Math.max(0, lateSeconds));
  }

  appendFinished(seconds: number): void {
    this.appendLatency.observe(seconds);
  }

  providerCall(operation: string, status: string, seconds: number): void {
    this.providerCalls.inc({ operation, status });
    this.providerLatency.observe({ operation }, seconds);
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
