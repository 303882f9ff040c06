import { DEFAULT_POOL } from '../events/common';
import { appRegistry } from '../events/index';
import { ALL_PROJECTIONS } from '../projections/index';
import { type Clock, systemClock } from './clock';
import { type Config, describeConfig, loadConfig, secretsOf } from './config';
import type { Configuration } from './config-file';
import { reloadLine, reloadPoolsAndRecord } from './config-reload';
import { nextCycleAt } from './control/cadence';
import { blocksReadiness, conditionText } from './control/conditions';
import { handOverLine, type LeaderStatus, standingByLine } from './control/leader';
import { type ControlLog, fact } from './control/log';
import { EXIT, exitCodeFor, hasCode } from './errors';
import { controlLog, poolLog } from './logging/control-log';
import { createLogging, type Logging, logFileProblem, SystemLogsPruner } from './logging/index';
import { ALERTS_CHECKPOINT, AlertSender } from './observe/alerts';
import { HttpEndpoint, HttpEndpointError, type ReadyCheck } from './observe/http';
import { Metrics } from './observe/metrics';
import { overdueText, PoolCadence, stillRunningLine } from './pools/cadence';
import { planLeadership } from './pools/leadership';
import { planProblems, poolsPlan, priorityLevels } from './pools/plan';
import { ProjectionRunner } from './projections/runner';
import type { Provider } from './providers/provider';
import { reactorCheckpointName } from './reactor/reactor';
import { SharedRequests } from './sources/shared';
import type { TaskSource } from './sources/source';
import type { EventStore } from './store/event-store';
import { openStore, storeOn } from './store/index';
import { embeddedLeases, type PoolLeases, postgresLeases } from './store/leader-lock';
import { migrationStatus } from './store/migrator';
import { describeTarget, openDb, parseDatabaseUrl } from './store/open';
import { buildSystem, makeProvider, type System } from './system';

export interface ServiceOptions {
  /** The settings of the process (with no `configuration`: of its one pool, `default`). */
  config: Config;
  /**
   * Every pool and the top level (a configuration file): each pool runs its own controller and
   * reactor, led by whichever replica holds its lease. Default: `config` as pool default alone.
   */
  configuration?: Configuration;
  /** Stop after this many cycles (for smoke tests); default: run until SIGINT/SIGTERM. */
  maxCycles?: number;
  /** Stop when this aborts (tests); SIGINT and SIGTERM always stop the service. */
  signal?: AbortSignal;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** The provider to run (tests, one pool); default: the one PROVIDER names. */
  provider?: Provider;
  /**
   * After SIGINT/SIGTERM the process exits within this many ms even if the stop is stuck (a hung
   * connection, a provider call), and a second signal exits at once. Default 10,000; set it to
   * null (tests running in-process) to leave the process alone.
   */
  stopDeadlineMs?: number | null;
  /** The controller's clock (tests pass a fake one); default: the system's monotonic clock. */
  clock?: Clock;
  /** The task source (tests, one pool); default: the one SOURCE names. */
  source?: TaskSource;
  /**
   * SIGHUP: the configuration read again (validated whole; a change is refused when invalid or
   * when it touches a setting that cannot change live). Default: loadConfig of the process's environment.
   */
  reloadConfig?: () => Config;
  /** SIGHUP with pools: every pool's configuration read again (wins over reloadConfig). */
  reloadConfiguration?: () => Configuration;
  /** The environment file reloadConfig reads, for the record (null: none). */
  envFile?: string | null;
}

/** Connection-level failures: the server went away or was restarted, or the connection was closed. */
const CONNECTION_LOST = new Set([
  '57P01', // terminating connection due to administrator command (a restart, pg_terminate_backend)
  '57P02', // crash shutdown
  '57P03', // cannot connect now (starting up)
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
]);

/**
 * porsager runs a query of its own on every new connection (its array types) and leaves its
 * promise unhandled: a connection dropped during it (a server restart) rejected it and crashed the
 * process. Such a lost connection is reported by the next query anyway; anything else still crashes.
 */
function isLostConnection(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && CONNECTION_LOST.has(code);
}

/**
 * porsager, with connections dropping under it (a server restart, a terminated backend), can throw
 * from its own code outside any query: a write it scheduled on a socket it has already let go (a
 * TypeError from connection.js), or its end timeout destroying connections (`write
 * CONNECTION_DESTROYED` from a timer in index.js), after the queries on those connections were
 * failed. That is a lost connection like any other, not worth a crash (a throw from the
 * uncaughtException handler would end the process with code 7); anything else still crashes.
 */
export function isDriverSocketError(err: unknown): boolean {
  if (!(err instanceof Error) || !/[\\/]postgres[\\/]cjs[\\/]src[\\/](connection|index)\.js/.test(err.stack ?? ''))
    return false;
  return err instanceof TypeError || isLostConnection(err);
}

/**
 * How long to stand by after `failures` steps in a row failed outside a cycle (taking the lead):
 * one cycle, then doubling, up to the larger of a cycle and 10 s.
 */
export function retryDelayMs(pollIntervalSec: number, failures: number): number {
  const cycle = pollIntervalSec * 1000;
  return Math.min(cycle * 2 ** Math.max(0, failures - 1), Math.max(cycle, 10_000));
}

const formatSeconds = (ms: number) => `${Number((ms / 1000).toFixed(2))} s`;

/**
 * A stop's cleanup: each step may take STOP_STEP_MS (the log flush STOP_FLUSH_MS), all of them
 * together STOP_BUDGET_MS (then each gets STOP_STEP_MIN_MS), before what it waits for is closed at
 * once. With the database down, a stop then ends in under 2 s.
 */
const STOP_STEP_MS = 500;
/** After a signal, how long the current step may wait on the database before its connections are closed at once. */
const STOP_GRACE_MS = 3000;
const STOP_FLUSH_MS = 700;
const STOP_BUDGET_MS = 1500;
const STOP_STEP_MIN_MS = 20;
/** After a stop by a signal, how long a lingering handle may keep the process before it exits anyway. */
const LINGER_MS = 300;

/** The exit code of a process stopped by a signal it did not finish handling: 128 + its number. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** One pool as this process runs it: its system, its log, and whether this replica leads it. */
interface PoolRun {
  name: string;
  /** The pool's running configuration: a SIGHUP may replace the settings read every cycle. */
  config: Config;
  log: ControlLog;
  system: System;
  leading: boolean;
  /** The standing-by line last said (said once until it changes). */
  standingBy: string | null;
  /** Where this pool stands on this replica, for /readyz. */
  role: ReadyCheck;
  workerTimer: NodeJS.Timeout | null;
  /** The cycle count at start (for --cycles). */
  startCycle: number;
  /** Times in a row taking this pool's lead failed, and when (controller clock, ms) to try again. */
  failedInARow: number;
  retryAt: number;
}

/** A control log whose destinations are set once the logging exists (the providers are made before). */
function lateLog(): ControlLog & { to(log: ControlLog): void } {
  let target: ControlLog | null = null;
  return {
    log: (level, message, meta) => target?.log(level, message, meta),
    mirror: (line) => target?.mirror(line),
    to: (log) => {
      target = log;
    },
  };
}

/** Runs the controller as a service until a signal; resolves to the exit code. */
export async function runService(opts: ServiceOptions): Promise<number> {
  const configuration: Configuration = opts.configuration ?? {
    file: null,
    top: opts.config,
    pools: [{ name: DEFAULT_POOL, config: opts.config }],
  };
  const single = configuration.pools.length === 1;
  /** The settings of the whole process (the store, the logs, the endpoint, the cadence). */
  let top = single ? configuration.pools[0].config : configuration.top;
  const clock = opts.clock ?? systemClock;
  const out = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const target = parseDatabaseUrl(top.DATABASE_URL);
  const secrets = [...new Set([top, ...configuration.pools.map((p) => p.config)].flatMap(secretsOf))];
  // Written before the logging exists: a failed write is kept and counted by it once it does (a
  // full disk under stdout is reported by the health check, never fatal).
  const earlyFailures: unknown[] = [];
  let outputFailed: (err: unknown) => void = (err) => earlyFailures.push(err);
  const say = (text: string) => {
    try {
      out.write(text, (err) => {
        if (err) outputFailed(err);
      });
    } catch (err) {
      outputFailed(err);
    }
  };
  say(`gpu-scaler starting: store ${describeTarget(target)}\n`);
  for (const pool of configuration.pools) {
    say(
      `effective configuration${single ? '' : ` of pool ${pool.name}`}:\n${describeConfig(pool.config)
        .map((l) => `  ${l}\n`)
        .join('')}`,
    );
  }
  // Each pool's provider, and from their workers' sizes the plan the global budget is shared by.
  const providerLog = lateLog();
  const providers = new Map(
    configuration.pools.map((p) => [
      p.name,
      (single ? opts.provider : undefined) ??
        makeProvider(p.config, clock, single ? providerLog : poolLog(providerLog, p.name)),
    ]),
  );
  const plan = poolsPlan(configuration, (pool) => providers.get(pool)?.gpusPerWorker ?? 1);
  const problems = planProblems(plan);
  if (problems.length) {
    for (const problem of problems) stderr.write(`gpu-scaler: ${problem}\n`);
    return EXIT.usage; // the pools' floors alone pass a global cap: bad configuration
  }

  const logFile = top.LOG_FILE === '' || top.LOG_FILE === 'none' ? null : top.LOG_FILE;
  const logFileError = logFile === null ? null : logFileProblem(logFile);
  if (logFileError) {
    stderr.write(`gpu-scaler: ${logFileError}\n`);
    return EXIT.usage; // LOG_FILE is a setting that cannot be used: bad configuration
  }
  const store = await openStore({ target, registry: appRegistry, applicationName: 'gpu-scaler', secrets });
  let logging: Logging;
  try {
    logging = await createLogging(
      {
        format: top.LOG_FORMAT,
        level: top.LOG_LEVEL,
        logFile,
        dbLogging: top.DB_LOGGING,
        dbLoggingRequired: top.DB_LOGGING_REQUIRED,
        dbErrorsFile: top.DB_LOGGING_ERRORS_FILE,
        secrets,
        dbTarget: describeTarget(target),
        stdout: opts.stdout,
        stderr: opts.stderr,
      },
      store.db,
    );
  } catch (err) {
    await store.close();
    if (hasCode(err, 'DB_LOGGING_REQUIRED')) {
      stderr.write(`gpu-scaler: ${err.message}\nDB_LOGGING_REQUIRED=true: exiting.\n`);
      return exitCodeFor(err); // a runtime failure: 1
    }
    throw err;
  }
  outputFailed = (err) => logging.destinationFailed('stdout', err);
  for (const err of earlyFailures.splice(0)) outputFailed(err);
  const log = controlLog(logging);
  providerLog.to(log);
  systemClock.onDrift((drift) =>
    log.log(
      'warning',
      `⏰ The wall clock is ${Math.round(Math.abs(drift) / 1000)} s ${drift > 0 ? 'ahead of' : 'behind'} the controller's clock (wall time at start + monotonic time): durations and event times follow the controller's clock; restart to take the wall clock again`,
    ),
  );
  const metrics = new Metrics({ pools: configuration.pools.map((p) => p.name) });
  const onAppendTimed = (sec: number) => metrics.appendFinished(sec);
  store.signals.on('appendTimed', onAppendTimed);
  // one projection runner for the process: the projections are the store's, not a pool's
  const projections = new ProjectionRunner(store, ALL_PROJECTIONS);
  // pools whose http sources ask the same request share one answer per cycle
  const sharedRequests = new SharedRequests((top.POLL_INTERVAL_SEC * 1000) / 2, () => clock.now().getTime());
  const runs: PoolRun[] = [];
  for (const pool of configuration.pools) {
    const poolLogged = single ? log : poolLog(log, pool.name);
    const system = await buildSystem({
      store,
      pool: pool.name,
      plan,
      projections,
      config: pool.config,
      clock,
      log: poolLogged,
      provider: providers.get(pool.name),
      source: single ? opts.source : undefined,
      dbLogging: () => logging.dbStats(),
      logDestinations: () => logging.destinationStats(),
      metrics,
      sharedRequests,
    });
    system.reactor.subscription.on('error', (err) =>
      poolLogged.log('error', `reactor failed, will retry: ${(err as Error).message}`),
    );
    runs.push({
      name: pool.name,
      config: pool.config,
      log: poolLogged,
      system,
      leading: false,
      standingBy: null,
      role: { ok: false, detail: 'starting: the leader lock was not tried yet' },
      workerTimer: null,
      startCycle: system.controller.cycle,
      failedInARow: 0,
      retryAt: 0,
    });
  }
  const alerts = top.ALERT_WEBHOOK_URL
    ? new AlertSender({
        store,
        url: top.ALERT_WEBHOOK_URL,
        groupWindowSec: top.ALERT_GROUP_WINDOW_SEC,
        secrets,
        namePools: !single,
      })
    : null;
  alerts?.subscription.on('error', (err) =>
    log.log('warning', `alert not sent, will retry: ${(err as Error).message}`),
  );
  // The dashboard and /metrics read over connections of their own, so readers never hold the loop's.
  let readStore: EventStore = store;
  if (target.kind === 'postgres') {
    try {
      readStore = await storeOn(
        await openDb(target, { applicationName: 'gpu-scaler-http', max: 2 }),
        appRegistry,
        false,
        false,
      );
    } catch (err) {
      log.log('warning', `HTTP reads share the controller's connections: ${(err as Error).message}`);
    }
  }
  /** The pools' cycles, a priority level at a time; a pool whose cycle hangs holds up the others at most once, by an interval. */
  const cadence = new PoolCadence<PoolRun>({
    clock,
    intervalMs: top.POLL_INTERVAL_SEC * 1000,
    run: (p) => cycle(p),
    skipped: (p, runningMs) => {
      p.log.log('warning', stillRunningLine(p.system.controller.cycle, runningMs), {
        cycle: p.system.controller.cycle,
      });
      // its next cycle is as late as it has run past its interval (the gauge grows while it hangs)
      metrics.forPool(p.name).cycleStarted(Math.max(0, runningMs - top.POLL_INTERVAL_SEC * 1000) / 1000);
    },
  });
  /** A pool this replica leads whose cycle has hung past two waits (src/pools/cadence.ts): not ready, saying why. */
  const overdueCheck = (p: PoolRun): ReadyCheck | null => {
    const overdue = p.leading ? cadence.overdueMs(p.name) : null;
    return overdue === null ? null : { ok: false, detail: overdueText(p.system.controller.cycle, overdue) };
  };
  /** A pool's readiness: its role, and while it leads, whether its cycles run and it can scale. */
  const poolReadiness = (p: PoolRun): ReadyCheck => {
    if (!p.leading || !p.role.ok) return p.role;
    const overdue = overdueCheck(p);
    if (overdue) return overdue;
    const blocking = p.system.controller.conditions().filter(blocksReadiness);
    const now = systemClock.now();
    return blocking.length
      ? { ok: false, detail: `leading, unable to scale: ${blocking.map((c) => conditionText(c, now)).join('; ')}` }
      : p.role;
  };
  const endpoint = new HttpEndpoint({
    store,
    readStore,
    host: top.HTTP_HOST,
    port: top.HTTP_PORT,
    token: top.HTTP_TOKEN ?? null,
    metrics,
    dbLogging: () => logging.dbStats(),
    now: () => systemClock.now(),
    refreshSec: top.POLL_INTERVAL_SEC,
    providerName: [...new Set(runs.map((p) => p.system.provider.name))].join(','),
    subscribers: [...runs.map((p) => reactorCheckpointName(p.name)), ...(alerts ? [ALERTS_CHECKPOINT] : [])],
    // one pool: its conditions count as before; several: each pool's count in its own check
    conditions: () => (single && runs[0].leading && runs[0].role.ok ? runs[0].system.controller.conditions() : null),
    readiness: async () => {
      const checks: Record<string, ReadyCheck> = {};
      try {
        await store.db.query('select 1');
        checks.store = { ok: true, detail: `reachable (${describeTarget(target)})` };
        const status = await migrationStatus(store.db);
        checks.migrations = status.pending.length
          ? { ok: false, detail: `not applied: ${status.pending.map((m) => m.name).join(', ')}` }
          : { ok: true, detail: 'applied' };
      } catch (err) {
        checks.store = { ok: false, detail: `unreachable: ${(err as Error).message}` };
      }
      if (single) checks.role = overdueCheck(runs[0]) ?? runs[0].role;
      else for (const p of runs) checks[`pool ${p.name}`] = poolReadiness(p);
      return checks;
    },
  });
  // The endpoint is for watching: a port in use is an error in the log, not a reason to stop scaling.
  try {
    const a = await endpoint.start();
    log.log(
      'info',
      `📊 HTTP endpoint on http://${a.address}:${a.port}/ (dashboard), /metrics, /healthz, /readyz${top.HTTP_TOKEN ? ' (bearer token required)' : ''}`,
    );
  } catch (err) {
    if (!(err instanceof HttpEndpointError)) throw err;
    log.log('error', `❌ HTTP endpoint not started, running without /metrics and the dashboard: ${err.message}`);
    log.mirror(`HTTP endpoint not started: ${err.message}`);
  }
  const pruner = new SystemLogsPruner({
    db: store.db,
    retentionDays: top.SYSTEM_LOGS_RETENTION_DAYS,
    now: () => systemClock.now(),
    onPruned: (n) =>
      log.log('info', `🧹 system_logs: deleted ${n} rows older than ${top.SYSTEM_LOGS_RETENTION_DAYS} days`),
    onError: (err) => log.log('warning', `system_logs pruning failed, will retry: ${(err as Error).message}`),
  });
  pruner.start();
  const abort = new AbortController();
  const deadlineMs = opts.stopDeadlineMs === undefined ? 10_000 : opts.stopDeadlineMs;
  const exitNow = (why: string, code: number) => {
    stderr.write(`${new Date().toISOString()} gpu-scaler: ${why}: exiting now\n`);
    process.exit(code);
  };
  /** The signal that stopped the process, when one did (not a test's stop request or --cycles). */
  let stoppedBySignal: string | null = null;
  const stop = (sig: string) => {
    const fromProcess = sig in SIGNAL_EXIT;
    if (abort.signal.aborted) {
      if (fromProcess && deadlineMs !== null) exitNow(`second ${sig} while stopping`, SIGNAL_EXIT[sig]);
      return;
    }
    log.log('notice', `received ${sig}: stopping after the current step`);
    if (fromProcess) stoppedBySignal = sig;
    abort.abort();
    if (fromProcess && deadlineMs !== null) {
      // Not keeping the process alive itself: it only fires if something else does.
      setTimeout(() => exitNow(`still stopping ${deadlineMs} ms after ${sig}`, SIGNAL_EXIT[sig]), deadlineMs).unref();
      // A step still waiting on the database this long after the signal waits for an answer that
      // will not come (after a server restart the driver can leave a query on a connection it has
      // lost): the connections are closed at once, so that query fails and the stop goes on. A step
      // waiting on something else (a provider, a task source) is left to the deadline.
      setTimeout(() => {
        if (loopEnded) return;
        log.log(
          'warning',
          `the current step still waits ${STOP_GRACE_MS} ms after ${sig}: closing the database connections at once`,
        );
        store.close({ graceSec: 0 }).catch(() => {});
        leases.close().catch(() => {});
      }, STOP_GRACE_MS).unref();
    }
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  // SIGHUP: reload the configuration (one at a time); each pool's controller takes it from its next cycle
  const reloadConfiguration =
    opts.reloadConfiguration ??
    (() => {
      const config = (opts.reloadConfig ?? (() => loadConfig(process.env)))();
      return { file: null, top: config, pools: [{ name: runs[0].name, config }] };
    });
  let reloading: Promise<void> = Promise.resolve();
  const onHup = () => {
    log.log('notice', 'received SIGHUP: reading the configuration again');
    reloading = reloading.then(async () => {
      try {
        const file = opts.envFile ?? null;
        const current = new Map(runs.map((p) => [p.name, p.config]));
        const outcomes = await reloadPoolsAndRecord({ store, current, reloadConfiguration, file, now: clock.now() });
        for (const { pool, outcome } of outcomes) {
          const run = runs.find((p) => p.name === pool);
          if (outcome.ok && run) {
            run.config = outcome.config;
            run.system.controller.reconfigure(outcome.config);
            if (single) top = outcome.config;
          }
          fact(run?.log ?? log, outcome.ok ? 'notice' : 'error', reloadLine(outcome, file), {});
        }
      } catch (err) {
        log.log('error', `⛔ CONFIGURATION RELOAD failed: ${(err as Error).message}; the running configuration stays`);
      }
    });
  };
  process.on('SIGHUP', onHup);
  const onUnhandled = (err: unknown) => {
    if (!isLostConnection(err)) throw err;
    log.log('warning', `a database connection was lost: ${(err as Error).message}`);
  };
  const onDriverError = (err: unknown) => {
    if (!isDriverSocketError(err)) throw err;
    stderr.write(`gpu-scaler: a database connection was lost: ${(err as Error).message}\n`);
  };
  process.on('uncaughtException', onDriverError);
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('unhandledRejection', onUnhandled);
  opts.signal?.addEventListener('abort', () => stop('stop request'), { once: true });
  if (opts.signal?.aborted) stop('stop request');

  projections.on('error', (err) => log.log('error', `projection update failed: ${(err as Error).message}`));
  const names = runs.map((p) => p.name);
  const leases: PoolLeases =
    target.kind === 'postgres' ? postgresLeases(target.url, store.db.schema, names) : embeddedLeases(names);
  /** The loop has ended (the stop's cleanup has begun). */
  let loopEnded = false;
  const intervalMs = top.POLL_INTERVAL_SEC * 1000;

  /** Stops everything only a pool's leader runs (its reactor, its simulated workers; the projections and alerts with the last pool). */
  const stepDown = async (p: PoolRun) => {
    if (!p.leading) return;
    p.leading = false;
    if (p.workerTimer) clearInterval(p.workerTimer);
    p.workerTimer = null;
    const none = runs.every((r) => !r.leading);
    // each stops whatever the others do: a database gone while stopping must not leave one running
    const stops: [string, () => Promise<void> | undefined][] = [
      ['the reactor', () => p.system.reactor.stop()],
      ['alerts', () => (p === runs[0] ? alerts?.stop() : undefined)],
      ['the projections', () => (none ? projections.stop() : undefined)],
    ];
    for (const [what, stopIt] of stops) {
      await Promise.resolve()
        .then(stopIt)
        .catch((err) => p.log.log('warning', `stopping ${what}: ${(err as Error).message}`));
    }
  };
  /** Takes a pool's lead: its record read again (another replica may have run cycles meanwhile), its reactor and workers started. */
  const lead = async (p: PoolRun) => {
    await p.system.controller.init();
    p.leading = true;
    p.standingBy = null;
    p.log.log(
      'notice',
      `👑 Leading: cycle every ${top.POLL_INTERVAL_SEC}s, provider ${p.system.provider.name}, task source ${p.system.source.name}, resuming after cycle #${p.system.controller.cycle}`,
    );
    projections.start();
    p.system.reactor.start();
    if (p === runs[0]) alerts?.start(); // alerts are sent by the replica leading the first pool
    const workers = p.system.simWorkers;
    if (workers) {
      p.workerTimer = setInterval(() => {
        workers.tick().catch((err) => p.log.log('warning', `simulated workers: ${(err as Error).message}`));
      }, 1000);
    }
  };
  /** Pools whose lease was free at the previous look (taken by whoever sees them free again). */
  let freeBefore: string[] = [];
  /** Which pools to lead (src/pools/leadership.ts): hands over those beyond this replica's share, takes or renews the rest. */
  const takeLeads = async (): Promise<Map<string, LeaderStatus>> => {
    const all = (status: LeaderStatus) => new Map(runs.map((p) => [p.name, status]));
    const survey = await leases.survey();
    if (survey.kind === 'unreachable') return all(survey);
    const want = planLeadership({
      pools: names,
      me: leases.replica,
      replicas: survey.replicas,
      holders: survey.holders,
      freeBefore,
    });
    freeBefore = names.filter((n) => survey.holders[n] === null);
    for (const p of runs.filter((r) => want.handOver.includes(r.name))) {
      p.log.log('notice', handOverLine(want.share, survey.replicas.length));
      await stepDown(p);
    }
    if (want.handOver.length) await leases.release(want.handOver);
    const taken = await leases.tryAcquire(want.lead);
    if (taken.kind === 'unreachable') return all(taken);
    return new Map(runs.map((p) => [p.name, taken.held.has(p.name) ? { kind: 'leading' } : { kind: 'other' }]));
  };
  /** A pool's leadership this cycle: leads it (taking it when new), or stands by, saying why once. */
  const follow = async (p: PoolRun, status: LeaderStatus) => {
    p.role =
      status.kind === 'leading'
        ? { ok: true, detail: 'leading' }
        : status.kind === 'other'
          ? { ok: true, detail: `following: another ${single ? 'controller' : 'replica'} leads` }
          : { ok: false, detail: `the database is unreachable: ${status.error}` };
    if (status.kind === 'leading') {
      if (p.leading || clock.now().getTime() < p.retryAt) return;
      try {
        await lead(p);
        p.failedInARow = 0;
      } catch (err) {
        // Taking the lead failed (a database error reading the record): this pool stands by and tries again later
        p.failedInARow += 1;
        const waitMs = retryDelayMs(top.POLL_INTERVAL_SEC, p.failedInARow);
        p.retryAt = clock.now().getTime() + waitMs - intervalMs / 2;
        const line = `❌ Taking the lead failed: ${(err as Error).message}: standing by, acting on nothing (trying again in ${formatSeconds(waitMs)}, attempt ${p.failedInARow})`;
        p.log.log('error', line);
        p.log.mirror(line);
        p.role = { ok: false, detail: `standing by after a failure: ${(err as Error).message}` };
        await stepDown(p).catch((e) => p.log.log('warning', `stepping down: ${(e as Error).message}`));
        p.leading = false;
      }
      return;
    }
    if (p.leading) {
      const why =
        status.kind === 'other' ? 'another controller holds it now' : `the database is unreachable: ${status.error}`;
      fact(
        p.log,
        'crit',
        `❌ Lost the leader lock (${why}): standing by, acting on nothing`,
        {},
        `LEADERSHIP LOST (${why}): standing by`,
      );
      await stepDown(p);
    }
    const line = standingByLine(status);
    if (p.standingBy !== line) {
      p.log.log(status.kind === 'other' ? 'notice' : 'error', line);
      if (status.kind === 'unreachable') p.log.mirror(line);
      p.standingBy = line;
    }
  };
  /** One cycle of a pool this replica leads; a failure is the pool's alone. */
  const cycle = async (p: PoolRun) => {
    try {
      await p.system.controller.runCycle();
    } catch (err) {
      fact(p.log, 'error', `❌ Cycle #${p.system.controller.cycle} failed: ${(err as Error).message}`, {
        cycle: p.system.controller.cycle,
      });
    }
  };
  /** --cycles: every pool this replica leads has run that many. */
  const done = () =>
    opts.maxCycles !== undefined &&
    runs.some((p) => p.leading) &&
    runs.every((p) => !p.leading || p.system.controller.cycle - p.startCycle >= (opts.maxCycles ?? 0));

  /** Steps in a row that failed outside a pool (the leases): the backoff grows with them. */
  let failedInARow = 0;
  /** When the cycle that starts next was due (ms on the controller's clock). */
  let due: number | null = null;
  try {
    while (!abort.signal.aborted) {
      const started = clock.now().getTime();
      if (due !== null) {
        const busy = cadence.running();
        for (const p of runs)
          if (p.leading && !busy.includes(p.name))
            metrics.forPool(p.name).cycleStarted(Math.max(0, started - due) / 1000);
      }
      let waitMs = intervalMs;
      // No error ends the service: a database that stops while the leases are being taken (or given
      // up) makes every pool stand by, acting on nothing, and try again with a growing delay.
      try {
        const statuses = await takeLeads();
        for (const p of runs) await follow(p, statuses.get(p.name) ?? { kind: 'other' });
        for (const p of runs) metrics.forPool(p.name).setLeader(p.leading);
        // the pools' cycles run side by side, on the process's cadence, a priority at a time: a
        // lower priority decides knowing what every higher one here wants now
        for (const level of priorityLevels(runs, (p) => p.config.PRIORITY))
          await cadence.level(level.filter((p) => p.leading));
        if (done()) break;
        failedInARow = 0;
      } catch (err) {
        failedInARow += 1;
        waitMs = retryDelayMs(top.POLL_INTERVAL_SEC, failedInARow);
        const line = `❌ ${runs.some((p) => p.leading) ? 'Leading' : 'Taking the lead'} failed: ${(err as Error).message}: standing by, acting on nothing (trying again in ${formatSeconds(waitMs)}, attempt ${failedInARow})`;
        log.log('error', line);
        log.mirror(line);
        for (const p of runs) {
          p.role = { ok: false, detail: `standing by after a failure: ${(err as Error).message}` };
          p.standingBy = null;
          await stepDown(p).catch((e) => p.log.log('warning', `stepping down: ${(e as Error).message}`));
        }
      }
      // The next cycle starts on the next wall-clock multiple of the interval (as in simulate), one
      // that a long cycle ran past is skipped; after failures, no sooner than the backoff less one
      // interval. It is late by how far it starts past this.
      const now = clock.now().getTime();
      due = nextCycleAt(now + waitMs - intervalMs, intervalMs);
      await clock.sleep(Math.max(0, due - now), abort.signal);
    }
  } finally {
    loopEnded = true;
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onHup);
    await reloading;
    // Each step gets a short time: what cannot be closed cleanly by then (a query waiting for a
    // database that is down, a reconnect in flight) is closed at once, so a stop ends in about 2 s
    // whatever the database does.
    const stopBy = performance.now() + STOP_BUDGET_MS;
    const step = async (what: string, most: number, fn: () => Promise<unknown> | undefined) => {
      const ms = Math.round(Math.max(STOP_STEP_MIN_MS, Math.min(most, stopBy - performance.now())));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), ms);
      });
      const done = Promise.resolve()
        .then(fn)
        .then(
          () => 'done' as const,
          (err) => {
            log.log('warning', `stopping: ${what} failed: ${(err as Error).message}`);
            return 'done' as const;
          },
        );
      const outcome = await Promise.race([done, late]).finally(() => clearTimeout(timer));
      if (outcome === 'late') log.log('warning', `stopping: ${what} did not finish within ${ms} ms: closed at once`);
    };
    // a pool's cycle that outlasted its tick ends first (its record whole), or is cut off by the closes below
    if (cadence.running().length)
      await step(`the cycles still running (${cadence.running().join(', ')})`, STOP_STEP_MS, () => cadence.settled());
    await step('stepping down', STOP_STEP_MS, () => Promise.all(runs.map(stepDown)));
    await step('the HTTP endpoint', STOP_STEP_MS, () => endpoint.stop());
    if (readStore !== store) await step('the read connections', STOP_STEP_MS, () => readStore.close({ graceSec: 0 }));
    store.signals.off('appendTimed', onAppendTimed);
    await step('system_logs pruning', STOP_STEP_MS, () => pruner.stop());
    await step('the task source', STOP_STEP_MS, () => Promise.all(runs.map((p) => p.system.source.close?.())));
    await step('the provider', STOP_STEP_MS, () => Promise.all(runs.map((p) => p.system.provider.close?.())));
    await step('the leader lock', STOP_STEP_MS, () => leases.close());
    log.log('notice', 'gpu-scaler stopped');
    // the last entries go to system_logs if the database takes them quickly; they are on stdout and in the file anyway
    await step('the logs', STOP_FLUSH_MS, () =>
      logging.close({ timeoutMs: Math.max(STOP_STEP_MIN_MS, stopBy - performance.now()) }),
    );
    await step('the store', STOP_STEP_MS, () => store.close({ graceSec: 0 }));
    process.off('unhandledRejection', onUnhandled);
    if (stoppedBySignal !== null && deadlineMs !== null) {
      // Everything is closed and flushed. A driver's timer still pending (a reconnect scheduled
      // while the database was down) must not hold a stopped process: if anything still keeps it
      // alive shortly after this, it exits (the timer itself keeps nothing alive).
      setTimeout(() => process.exit(process.exitCode ?? 0), LINGER_MS).unref();
    }
    // a write porsager scheduled before the close runs on the next turn: keep the guard until then
    setImmediate(() => setImmediate(() => process.off('uncaughtException', onDriverError)));
  }
  return 0;
}
