import { randomUUID } from 'node:crypto';
import type { DbLoggingStats, LogDestinationStats } from '../../events/health';
import { Streams } from '../../events/index';
import type { PolicySettings } from '../../events/scaling';
import type { Clock } from '../clock';
import type { Config } from '../config';
import { assessDbLogging, destinationProblems } from '../logging/index';
import type { ProjectionRunner } from '../projections/runner';
import type { PodInfo, Provider } from '../providers/provider';
import { parseTaskCount, rawForEvent, type TaskCount, type TaskSource } from '../sources/source';
import { reached } from '../store/checkpoints';
import { ConcurrencyError, EventIdConflictError } from '../store/errors';
import type { Checkpoint, EventStore, NewEvent } from '../store/event-store';
import { type Anomaly, detectAnomalies } from './anomalies';
import { breakerState, type SpawnOutcome } from './circuit-breaker';
import { countWorkersByStatus, readFleet } from './fleet';
import { deterministicId } from './ids';
import type { ControlLog } from './log';
import {
  actionLine,
  anomalyCauses,
  anomalyLine,
  decisionBlock,
  decisionLine,
  healthCheckLine,
  healthSummaryBlock,
  taskCountBlock,
  taskCountLine,
  terminatedLine,
} from './messages';
import { blockSpawning, decide, type PolicyResult } from './policy';
import { isRefusal, REFUSALS } from './provider-refusals';

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
}

export type CycleOutcome =
  | { cycle: number; kind: 'rejected'; reason: string }
  | { cycle: number; kind: 'decided'; decision: PolicyResult; anomalies: Anomaly[]; held: boolean }
  | { cycle: number; kind: 'skipped'; reason: string };

export function policySettings(c: Config): PolicySettings {
  return {
    policy: 'default',
    TASKS_PER_GPU: c.TASKS_PER_GPU,
    MIN_ACTIVE_GPUS: c.MIN_ACTIVE_GPUS,
    MAX_WORKERS: c.MAX_WORKERS,
    MAX_ACTIVE_GPUS: c.MAX_ACTIVE_GPUS,
    MACHINES_TO_KEEP_IDLE: c.MACHINES_TO_KEEP_IDLE,
    GPU_IDLE_TIMEOUT_SEC: c.GPU_IDLE_TIMEOUT_SEC,
    SPAWNING_TIMEOUT_SEC: c.SPAWNING_TIMEOUT_SEC,
    WORKER_MAX_LIFETIME_SEC: c.WORKER_MAX_LIFETIME_SEC ?? null,
    MAX_HOURLY_COST_USD: c.MAX_HOURLY_COST_USD ?? null,
  };
}

const TIMEOUT = Symbol('timeout');

/**
 * The control loop. Each cycle: bring projections up to date, sync the fleet with the provider,
 * observe the task count, decide (pure policy), detect anomalies (pure), and record it all as one
 * atomic batch on the controller stream. The reactor, a separate subscriber, acts on decisions.
 */
export class Controller {
  cycle = 0;
  private version = 0;
  private previousTotal: number | null = null;
  private lastTaskCount: { queued: number; active: number; total: number } | null = null;
  private lastDecision: { txId: string; position: number; cycle: number } | null = null;
  private anomaliesSinceSummary: Record<string, number> = {};
  private startedAt = new Date(0);
  private breakerWasOpen = false;
  private readonly refusalsReported = new Set<string>();

  constructor(private readonly d: ControllerDeps) {}

  /** Restores the cycle number and the last observation from the controller stream. */
  async init(): Promise<void> {
    const tail = await this.d.store.readStreamTail(Streams.controller, 50);
    this.version = await this.d.store.streamVersion(Streams.controller);
    this.cycle = 0;
    this.previousTotal = null;
    this.lastDecision = null;
    this.startedAt = this.d.clock.now();
    for (const e of tail) {
      const data = e.data as { cycle: number; total?: number; queued?: number; active?: number };
      this.cycle = Math.max(this.cycle, data.cycle);
      if (e.type === 'TaskCountObserved') {
        this.previousTotal = data.total ?? null;
        this.lastTaskCount = { queued: data.queued ?? 0, active: data.active ?? 0, total: data.total ?? 0 };
      }
      if (e.type === 'ScalingDecided')
        this.lastDecision = { txId: e.txId, position: e.globalPosition, cycle: data.cycle };
    }
    // anomalies since the last health summary, so a restart does not make the next summary forget them
    const rows = await this.d.store.db.query<{ kind: string; n: number }>(
      `select data->>'kind' as kind, count(*)::bigint as n from events
        where event_type = 'AnomalyDetected' and global_position > coalesce(
          (select max(global_position) from events where event_type = 'HealthSummaryRecorded'), 0)
        group by 1`,
    );
    this.anomaliesSinceSummary = Object.fromEntries(rows.map((r) => [r.kind, r.n]));
  }

  async runCycle(): Promise<CycleOutcome> {
    const { store, clock, config, log } = this.d;
    const cycle = this.cycle + 1;
    this.cycle = cycle;
    const correlationId = randomUUID();
    const meta = { cycle, correlationId };

    await this.d.projections.catchUp();
    // The reactor first, then the fleet: a decision counts every spawn the decisions before it
    // promised. Read the other way round, a reactor that finishes while the controller waits for it
    // leaves a decision made from a fleet without those spawns, and it would be carried out.
    const reactorCaughtUp = await this.reactorCaughtUp();
    if (await this.syncFleet(cycle)) await this.d.projections.catchUp();
    const fleet = await readFleet(store);

    // 1. Observe
    const observed = await this.observe(fleet.map((w) => w.workerId));
    const at = clock.now().toISOString();
    if (!observed.ok) {
      await this.appendControl([
        {
          type: 'TaskCountRejected',
          data: {
            cycle,
            at,
            source: this.d.source.name,
            reason: observed.reason,
            raw: observed.raw,
            responseMs: observed.responseMs,
          },
          metadata: meta,
        },
      ]);
      log.log('error', `❌ TASK COUNT REJECTED (Cycle #${cycle}): ${observed.reason}; raw answer: ${observed.raw}`, {
        cycle,
      });
      log.log('crit', `🎯 SCALING DECISION (Cycle #${cycle}): none - task count rejected, fleet held as it is`, {
        cycle,
      });
      log.mirror(`TASK COUNT REJECTED cycle=${cycle} reason=${observed.reason} -> no scaling decision, fleet held`);
      await this.periodic(cycle, fleet.length);
      return { cycle, kind: 'rejected', reason: observed.reason };
    }
    const { queued, active, workers } = observed.value;
    const total = queued + active;

    // 2. Decide (pure); a price is I/O, asked here at most once a cycle and only for the cost cap
    const quote = config.MAX_HOURLY_COST_USD !== undefined ? await this.quote(cycle) : null;
    let decision = decide({
      now: clock.now(),
      queued,
      active,
      activity: workers,
      fleet,
      settings: policySettings(config),
      gpusPerWorker: this.d.provider.gpusPerWorker,
      quoteUsdPerHour: quote,
    });
    const block = await this.spawnBlock(cycle);
    if (block.why) decision = blockSpawning(decision, block.why);
    let held = false;
    if (decision.decision !== 'MAINTAIN' && !reactorCaughtUp) {
      held = true;
      decision = {
        ...decision,
        decision: 'MAINTAIN',
        delta: 0,
        terminate: [],
        reasons: [
          ...decision.reasons,
          `held: the reactor has not finished acting on cycle #${this.lastDecision?.cycle}'s decision, so this one would double-count`,
        ],
      };
    }

    // 3. Detect anomalies (pure)
    const anomalies = [
      ...block.anomalies,
      ...detectAnomalies(
        {
          previousTotal: this.previousTotal,
          total,
          queued,
          active,
          responseMs: observed.responseMs,
          source: this.d.source.name,
          spawning: decision.decision === 'SCALE_UP' ? decision.delta : 0,
          requested: decision.requested,
        },
        {
          rapidScaleUpWorkers: config.ANOMALY_RAPID_SCALE_UP_WORKERS,
          spikeFactor: config.ANOMALY_SPIKE_FACTOR,
          fromNowhereTasks: config.ANOMALY_FROM_NOWHERE_TASKS,
          slowSourceMs: config.ANOMALY_SLOW_SOURCE_SEC * 1000,
        },
      ),
    ];

    // 4. Record the cycle as one atomic batch
    const observedData = {
      cycle,
      at,
      source: this.d.source.name,
      queued,
      active,
      total,
      responseMs: observed.responseMs,
      workers,
    };
    const decidedData = { cycle, at, queued, active, ...decision, settings: policySettings(config) };
    const decidedId = randomUUID();
    const res = await this.appendControl([
      { type: 'TaskCountObserved', data: observedData, metadata: meta },
      { type: 'ScalingDecided', data: decidedData, eventId: decidedId, metadata: meta },
      ...anomalies.map((a) => ({
        type: 'AnomalyDetected',
        data: { cycle, at, ...a },
        metadata: { ...meta, causationId: decidedId },
      })),
    ]);
    if (!res) return { cycle, kind: 'skipped', reason: 'another controller wrote this cycle' };
    this.lastDecision = { txId: res.txId, position: res.globalPositions[1], cycle };
    this.previousTotal = total;
    this.lastTaskCount = { queued, active, total };
    for (const a of anomalies) this.anomaliesSinceSummary[a.kind] = (this.anomaliesSinceSummary[a.kind] ?? 0) + 1;

    // 5. Log: the one-liners at crit, the framed blocks, the action, the anomalies
    log.log('crit', taskCountLine(observedData), { cycle, queued, active, total });
    log.log('crit', decisionLine(decidedData), { cycle, desired: decision.desired, decision: decision.decision });
    log.log('crit', taskCountBlock(observedData), { cycle });
    log.log('crit', decisionBlock(decidedData), { cycle });
    log.mirror(`TASK COUNT cycle=${cycle} queued=${queued} active=${active} total=${total}`);
    log.mirror(
      `SCALING DECISION cycle=${cycle} current=${decision.current.active}+${decision.current.spawning} desired=${decision.desired} decision=${decision.decision} delta=${decision.delta}${decision.limits.length ? ` limits=${decision.limits.map((l) => `${l.name}=${l.value}`).join(',')}` : ''}`,
    );
    const action = actionLine(decidedData);
    if (action) {
      log.log('crit', action, { cycle });
      log.mirror(action);
    }
    for (const a of anomalies) {
      log.log('alert', `${anomalyLine(a)}\n${anomalyCauses(a)}`, { cycle, anomaly: a.kind, figures: a.figures });
      log.mirror(`ANOMALY cycle=${cycle} kind=${a.kind} ${a.message}`);
    }

    if (cycle % config.RECONCILE_EVERY_CYCLES === 0) await this.reconcile(cycle);
    await this.periodic(cycle, fleet.length + (decision.decision === 'SCALE_UP' ? decision.delta : 0));
    return { cycle, kind: 'decided', decision, anomalies, held };
  }

  /** Reads the task source with a timeout and validates the answer. */
  private async observe(
    workerIds: string[],
  ): Promise<
    | { ok: true; value: TaskCount; responseMs: number }
    | { ok: false; reason: string; raw: string | null; responseMs: number }
  > {
    const { clock, config, source } = this.d;
    const started = clock.now().getTime();
    const abort = new AbortController();
    const timeoutMs = config.TASK_SOURCE_TIMEOUT_SEC * 1000;
    let raw: unknown;
    try {
      raw = await Promise.race([
        source.fetch({ workerIds, signal: abort.signal }),
        clock.sleep(timeoutMs, abort.signal).then(() => TIMEOUT),
      ]);
    } catch (err) {
      abort.abort();
      return {
        ok: false,
        reason: `task source ${source.name} failed: ${(err as Error).message}`,
        raw: null,
        responseMs: clock.now().getTime() - started,
      };
    }
    abort.abort();
    const responseMs = clock.now().getTime() - started;
    if (raw === TIMEOUT) {
      return { ok: false, reason: `task source ${source.name} timed out after ${timeoutMs} ms`, raw: null, responseMs };
    }
    const parsed = parseTaskCount(raw, config.TASK_COUNT_MAX);
    if (!parsed.ok) return { ok: false, reason: parsed.reason, raw: rawForEvent(raw), responseMs };
    return { ok: true, value: parsed.value, responseMs };
  }

  /** Appends to the controller stream, fenced by its version; null when another writer got there. */
  private async appendControl(events: NewEvent[]) {
    try {
      const res = await this.d.store.append(Streams.controller, events, { expectedVersion: this.version });
      this.version = res.nextExpectedVersion;
      return res;
    } catch (err) {
      if (!(err instanceof ConcurrencyError)) throw err;
      this.d.log.log(
        'crit',
        `❌ Another controller wrote to the controller stream (expected version ${this.version}, found ${err.actual}): this cycle is not recorded. Run one controller per store.`,
        { cycle: this.cycle },
      );
      await this.init();
      return null;
    }
  }

  /** One more worker's price from the provider, USD per hour; null when it has none or fails. */
  private async quote(cycle: number): Promise<number | null> {
    const { provider, log } = this.d;
    if (!provider.quote) return null;
    try {
      return (await provider.quote()).hourlyCostUsd;
    } catch (err) {
      log.log('warning', `could not get a price from ${provider.name}: ${(err as Error).message}`, { cycle });
      return null;
    }
  }

  private async reactorCaughtUp(): Promise<boolean> {
    if (!this.lastDecision || !this.d.reactorCheckpoint) return true;
    const deadline = Date.now() + (this.d.reactorWaitMs ?? 5000);
    for (;;) {
      const cp = await this.d.reactorCheckpoint();
      if (reached(cp, this.lastDecision.txId, this.lastDecision.position)) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Compares live workers with the provider's pods: a started pod activates its worker; a worker
   * whose pod is gone or exited is recorded as terminated (failed). Returns whether it recorded anything.
   */
  private async syncFleet(cycle: number): Promise<boolean> {
    const { store, provider, clock, log } = this.d;
    const fleet = await readFleet(store);
    if (fleet.length === 0) return false;
    let pods: PodInfo[];
    try {
      pods = await provider.list();
    } catch (err) {
      log.log('warning', `could not list ${provider.name} pods: ${(err as Error).message}`, { cycle });
      return false;
    }
    const byKey = new Map(pods.map((p) => [p.idempotencyKey ?? p.name, p]));
    const at = clock.now().toISOString();
    let wrote = false;
    for (const w of fleet) {
      if (!w.podId || w.status === 'terminating') continue;
      const pod = byKey.get(w.workerId);
      const stream = Streams.worker(w.workerId);
      if (pod && pod.status === 'running' && w.status === 'spawning') {
        try {
          await store.append(stream, [
            {
              type: 'WorkerActivated',
              data: { workerId: w.workerId, at, podId: pod.podId },
              eventId: deterministicId(`${w.workerId}:activated`),
              metadata: { cycle },
            },
          ]);
        } catch (err) {
          if (!(err instanceof EventIdConflictError)) throw err;
          continue; // recorded already (by a run that died before its projection caught up)
        }
        log.log('info', `🟢 Worker ${w.workerId} is up (pod ${pod.podId})`, { cycle, workerId: w.workerId });
        wrote = true;
      } else if (!pod || pod.status === 'exited' || pod.status === 'failed' || pod.status === 'terminated') {
        const reason = pod ? 'exited' : 'lost';
        const detail = pod
          ? `pod ${pod.podId} ${pod.status}${pod.exitCode != null ? ` with exit code ${pod.exitCode}` : ''}`
          : `pod ${w.podId} is gone from ${provider.name}`;
        // An exited pod still bills for its disk on some providers: remove it.
        if (pod) await provider.terminate(pod.podId).catch(() => {});
        const data = {
          workerId: w.workerId,
          at,
          podId: w.podId,
          reason: reason as 'exited' | 'lost',
          detail,
          failed: !pod || (pod.exitCode ?? 1) !== 0,
          exitCode: pod?.exitCode ?? null,
          gpuSeconds: null,
        };
        try {
          await store.append(stream, [
            {
              type: 'WorkerTerminated',
              data,
              eventId: deterministicId(`${w.workerId}:terminated`),
              metadata: { cycle },
            },
          ]);
        } catch (err) {
          if (err instanceof EventIdConflictError) continue; // the reactor recorded its end first
          throw err;
        }
        log.log('error', terminatedLine(data), { cycle, workerId: w.workerId });
        log.mirror(terminatedLine(data));
        wrote = true;
      }
    }
    return wrote;
  }

  /**
   * Whether spawning must stop: the circuit breaker (most recent spawns failed, capacity failures
   * not counted) or a provider that refused us since this controller started: our credentials,
   * the account's balance, the request itself, or the API version (none of these fixes itself). Anomalies are raised when a block begins.
   */
  private async spawnBlock(cycle: number): Promise<{ why: string | null; anomalies: Anomaly[] }> {
    const { store, clock, config, log } = this.d;
    const now = clock.now();
    const since = new Date(
      Math.min(now.getTime() - config.CIRCUIT_BREAKER_WINDOW_SEC * 1000, this.startedAt.getTime()),
    ).toISOString();
    const rows = await store.db.query<{ type: string; at: string; kind: string | null; error: string | null }>(
      `select event_type as type, data->>'at' as at, data->>'kind' as kind, data->>'error' as error from events
        where event_type in ('WorkerSpawned', 'WorkerSpawnFailed') and data->>'at' >= $1 order by global_position`,
      [since],
    );
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
          message: `Provider ${this.d.provider.name}: ${r.why}: spawning stopped. ${refusal.error ?? ''}`.trim(),
          figures: {},
          causes: r.causes,
        });
        log.log('crit', `❌ CRITICAL: ${why}`, { cycle });
        log.mirror(`SPAWNING STOPPED cycle=${cycle}: ${why}`);
      }
      return { why, anomalies };
    }
    const breaker = breakerState(outcomes, now, {
      windowSec: config.CIRCUIT_BREAKER_WINDOW_SEC,
      minSpawns: config.CIRCUIT_BREAKER_MIN_SPAWNS,
      failureRatio: config.CIRCUIT_BREAKER_FAILURE_RATIO,
    });
    if (breaker.open && !this.breakerWasOpen) {
      anomalies.push({
        kind: 'circuit_breaker_open',
        message: `Circuit breaker open: ${breaker.failed} of ${breaker.counted} spawns failed in the last ${config.CIRCUIT_BREAKER_WINDOW_SEC}s; spawning stopped until the window clears`,
        figures: { failed: breaker.failed, counted: breaker.counted, windowSec: config.CIRCUIT_BREAKER_WINDOW_SEC },
        causes: ['a broken worker image or start command', 'a provider outage', 'a bad pod configuration'],
      });
      log.log('crit', `❌ ${breaker.reason}`, { cycle });
      log.mirror(`SPAWNING STOPPED cycle=${cycle}: ${breaker.reason}`);
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

  /**
   * Every RECONCILE_EVERY_CYCLES: the provider's pods with our prefix against the workers. A pod no
   * live worker accounts for is an orphan burning money: it is terminated and recorded. (Workers whose
   * pod vanished are found every cycle by syncFleet.)
   */
  private async reconcile(cycle: number): Promise<void> {
    const { store, provider, clock, log } = this.d;
    let pods: PodInfo[];
    try {
      pods = await provider.list();
    } catch (err) {
      log.log('warning', `reconciliation: could not list ${provider.name} pods: ${(err as Error).message}`, { cycle });
      return;
    }
    const live = pods.filter((p) => p.status !== 'terminated');
    if (live.length === 0) return;
    const rows = await store.db.query<{ worker_id: string; status: string }>(
      'select worker_id, status from workers where worker_id = any($1::text[])',
      [live.map((p) => p.idempotencyKey ?? '')],
    );
    const known = new Map(rows.map((r) => [r.worker_id, r.status]));
    for (const pod of live) {
      const key = pod.idempotencyKey;
      const status = key ? known.get(key) : undefined;
      if (status && status !== 'terminated' && status !== 'failed') continue;
      // The projection may lag a reactor that just asked for this pod: the worker's own stream decides.
      if (key && !status) {
        const history = await store.readStream(Streams.worker(key));
        const ended = history.some((h) => h.type === 'WorkerTerminated' || h.type === 'WorkerSpawnFailed');
        if (history.length > 0 && !ended) continue;
      }
      const reason = status
        ? `its worker ${key} is ${status}`
        : key
          ? `no worker ${key} was ever requested`
          : 'its name carries no idempotency key';
      await provider.terminate(pod.podId);
      await store.append(Streams.reconciliation, [
        {
          type: 'OrphanPodTerminated',
          data: {
            at: clock.now().toISOString(),
            cycle,
            provider: provider.name,
            podId: pod.podId,
            name: pod.name,
            idempotencyKey: key,
            reason,
          },
          metadata: { cycle },
        },
      ]);
      const line = `🧹 ORPHAN POD TERMINATED: ${pod.name} (pod ${pod.podId}): ${reason}`;
      log.log('crit', line, { cycle });
      log.mirror(line);
    }
  }

  /** Every HEALTH_CHECK_EVERY_CYCLES a health check, every HEALTH_SUMMARY_EVERY_CYCLES a summary. */
  private async periodic(cycle: number, workerCount: number): Promise<void> {
    const { store, clock, config, log } = this.d;
    const at = clock.now().toISOString();
    if (cycle % config.HEALTH_CHECK_EVERY_CYCLES === 0) {
      const stats = this.d.dbLogging();
      const assessed = assessDbLogging(stats);
      const logDestinations = this.d.logDestinations?.() ?? [];
      const lost = destinationProblems(logDestinations);
      // failing: database logging could not start; degraded: it runs with errors, or is switched
      // off, or another log destination lost writes
      const ok = assessed.healthy && stats.enabled && lost.length === 0;
      const status = stats.initError ? 'failing' : ok ? 'healthy' : 'degraded';
      const problems = [...assessed.problems, ...lost];
      if (!stats.enabled) problems.push('database logging is disabled (DB_LOGGING=false)');
      const data = { cycle, at, status, dbLogging: stats, logDestinations, problems } as const;
      await store.append(Streams.health, [{ type: 'HealthChecked', data, metadata: { cycle } }]);
      log.log(status === 'healthy' ? 'notice' : 'crit', healthCheckLine(data), { cycle });
      if (status !== 'healthy') log.mirror(healthCheckLine(data));
    }
    if (cycle % config.HEALTH_SUMMARY_EVERY_CYCLES === 0) {
      const stats = this.d.dbLogging();
      const byStatus = await countWorkersByStatus(store);
      const data = {
        cycle,
        at,
        dbLoggingHealthy: stats.enabled && assessDbLogging(stats).healthy && !stats.initError,
        logWriteFailures: (this.d.logDestinations?.() ?? []).reduce((n, d) => n + d.failures, 0),
        lastTaskCount: this.lastTaskCount,
        lastWorkerCount: workerCount,
        workersByStatus: byStatus,
        anomaliesSinceLast: Object.values(this.anomaliesSinceSummary).reduce((a, b) => a + b, 0),
        anomalyKinds: this.anomaliesSinceSummary,
      };
      await store.append(Streams.health, [{ type: 'HealthSummaryRecorded', data, metadata: { cycle } }]);
      log.log('crit', healthSummaryBlock(data), { cycle });
      this.anomaliesSinceSummary = {};
    }
  }
}
