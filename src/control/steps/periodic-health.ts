import type { DbLoggingStats, LogDestinationStats } from '../../../events/health';
import { inPool, type PoolName, Streams } from '../../../events/index';
import type { Clock } from '../../clock';
import { assessDbLogging, destinationProblems } from '../../logging/index';
import type { EventStore } from '../../store/event-store';
import { countWorkersByStatus } from '../fleet';
import { type ControlLog, fact } from '../log';
import { healthCheckLine, healthSummaryBlock } from '../messages';
import type { CycleMemory } from './memory';

export interface PeriodicHealthContext {
  store: EventStore;
  clock: Clock;
  log: ControlLog;
  /** The pool whose health this is (its own health stream; its own fleet in the summary). */
  pool: PoolName;
  /** HEALTH_CHECK_EVERY_CYCLES and HEALTH_SUMMARY_EVERY_CYCLES. */
  checkEvery: number;
  summaryEvery: number;
  dbLogging: () => DbLoggingStats;
  logDestinations?: () => LogDestinationStats[];
}

/** What a health summary reports of the cycles since the last one. */
export interface SinceLastSummary {
  lastTaskCount: { queued: number; active: number; total: number } | null;
  workerCount: number;
  /** Anomalies since the last summary, by kind. */
  anomalyKinds: Record<string, number>;
}

/**
 * Record, every HEALTH_CHECK_EVERY_CYCLES a health check and every HEALTH_SUMMARY_EVERY_CYCLES a
 * summary. Returns whether it recorded a summary (the anomaly count starts again).
 */
export async function periodicHealth(ctx: PeriodicHealthContext, cycle: number, s: SinceLastSummary): Promise<boolean> {
  const { store, clock, log } = ctx;
  const at = clock.now().toISOString();
  if (cycle % ctx.checkEvery === 0) {
    const stats = ctx.dbLogging();
    const assessed = assessDbLogging(stats);
    const logDestinations = ctx.logDestinations?.() ?? [];
    const lost = destinationProblems(logDestinations);
    // failing: database logging could not start; degraded: it runs with errors, or is switched
    // off, or another log destination lost writes
    const ok = assessed.healthy && stats.enabled && lost.length === 0;
    const status = stats.initError ? 'failing' : ok ? 'healthy' : 'degraded';
    const problems = [...assessed.problems, ...lost];
    if (!stats.enabled) problems.push('database logging is disabled (DB_LOGGING=false)');
    const data = { cycle, at, status, dbLogging: stats, logDestinations, problems } as const;
    await store.append(
      Streams.health(ctx.pool),
      inPool(ctx.pool, [{ type: 'HealthChecked', data, metadata: { cycle } }]),
    );
    if (status === 'healthy') log.log('notice', healthCheckLine(data), { cycle });
    else fact(log, 'crit', healthCheckLine(data), { cycle });
  }
  if (cycle % ctx.summaryEvery !== 0) return false;
  const stats = ctx.dbLogging();
  const workersByStatus = await countWorkersByStatus(store.reads, ctx.pool);
  const data = {
    cycle,
    at,
    dbLoggingHealthy: stats.enabled && assessDbLogging(stats).healthy && !stats.initError,
    logWriteFailures: (ctx.logDestinations?.() ?? []).reduce((n, d) => n + d.failures, 0),
    lastTaskCount: s.lastTaskCount,
    lastWorkerCount: s.workerCount,
    workersByStatus,
    anomaliesSinceLast: Object.values(s.anomalyKinds).reduce((a, b) => a + b, 0),
    anomalyKinds: s.anomalyKinds,
  };
  await store.append(
    Streams.health(ctx.pool),
    inPool(ctx.pool, [{ type: 'HealthSummaryRecorded', data, metadata: { cycle } }]),
  );
  log.log('crit', healthSummaryBlock(data), { cycle });
  return true;
}

/** Health, a cycle's step: checks and summaries from what `memory` keeps (its anomaly count starts again after a summary). */
export async function healthCycle(
  ctx: PeriodicHealthContext,
  memory: Pick<CycleMemory, 'lastTaskCount' | 'anomaliesSinceSummary'>,
  cycle: number,
  workerCount: number,
): Promise<void> {
  const s = { lastTaskCount: memory.lastTaskCount, workerCount, anomalyKinds: memory.anomaliesSinceSummary };
  if (await periodicHealth(ctx, cycle, s)) memory.anomaliesSinceSummary = {};
}
