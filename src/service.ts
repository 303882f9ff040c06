import { appRegistry } from '../events/index';
import { systemClock } from './clock';
import { type Config, describeConfig, SECRET_KEYS } from './config';
import { embeddedLeaderLock, type LeaderLock, postgresLeaderLock } from './control/leader';
import { controlLog } from './control/winston-log';
import { createLogging, DbLoggingRequiredError, type Logging } from './logging/index';
import { openStore } from './store/index';
import { describeTarget, parseDatabaseUrl } from './store/open';
import { buildSystem } from './system';

export interface ServiceOptions {
  config: Config;
  /** Stop after this many cycles (for smoke tests); default: run until SIGINT/SIGTERM. */
  maxCycles?: number;
  /** Stop when this aborts (tests); SIGINT and SIGTERM always stop the service. */
  signal?: AbortSignal;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** Runs the controller as a service until a signal; resolves to the exit code. */
export async function runService(opts: ServiceOptions): Promise<number> {
  const { config } = opts;
  const out = opts.stdout ?? process.stdout;
  const target = parseDatabaseUrl(config.DATABASE_URL);
  const secrets = SECRET_KEYS.map((k) => (config as Record<string, unknown>)[k]).filter(
    (v): v is string => typeof v === 'string' && v.length > 0,
  );
  out.write(`gpu-scaler starting: store ${describeTarget(target)}\n`);
  out.write(
    `effective configuration:\n${describeConfig(config)
      .map((l) => `  ${l}\n`)
      .join('')}`,
  );

  const store = await openStore({ target, registry: appRegistry, applicationName: 'gpu-scaler' });
  let logging: Logging;
  try {
    logging = await createLogging(
      {
        format: config.LOG_FORMAT ?? 'pretty',
        level: config.LOG_LEVEL,
        logFile: config.LOG_FILE === '' || config.LOG_FILE === 'none' ? null : config.LOG_FILE,
        dbLogging: config.DB_LOGGING,
        dbLoggingRequired: config.DB_LOGGING_REQUIRED,
        dbErrorsFile: config.DB_LOGGING_ERRORS_FILE,
        secrets,
        dbTarget: describeTarget(target),
        stdout: opts.stdout,
        stderr: opts.stderr,
      },
      store.db,
    );
  } catch (err) {
    await store.close();
    if (err instanceof DbLoggingRequiredError) {
      (opts.stderr ?? process.stderr).write(`gpu-scaler: ${err.message}\nDB_LOGGING_REQUIRED=true: exiting.\n`);
      return 1;
    }
    throw err;
  }
  const log = controlLog(logging);
  const system = await buildSystem({ store, config, clock: systemClock, log, dbLogging: () => logging.dbStats() });
  const abort = new AbortController();
  const stop = (sig: string) => {
    if (abort.signal.aborted) return;
    log.log('notice', `received ${sig}: stopping after the current step`);
    abort.abort();
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  opts.signal?.addEventListener('abort', () => stop('stop request'), { once: true });
  if (opts.signal?.aborted) stop('stop request');

  system.projections.on('error', (err) => log.log('error', `projection update failed: ${(err as Error).message}`));
  system.reactor.subscription.on('error', (err) =>
    log.log('error', `reactor failed, will retry: ${(err as Error).message}`),
  );
  const lock: LeaderLock =
    target.kind === 'postgres' ? postgresLeaderLock(target.url, store.db.schema) : embeddedLeaderLock();
  let workerTimer: NodeJS.Timeout | null = null;
  let leading = false;
  let standingBy = false;
  const follow = async () => {
    if (!leading) return;
    leading = false;
    if (workerTimer) clearInterval(workerTimer);
    workerTimer = null;
    await system.reactor.stop();
    await system.projections.stop();
  };
  const startCycle = system.controller.cycle;
  try {
    while (!abort.signal.aborted) {
      const started = Date.now();
      if (!(await lock.tryAcquire())) {
        if (leading) {
          log.log('crit', '❌ Lost the leader lock (its connection dropped): standing by, acting on nothing');
          log.mirror('LEADERSHIP LOST: standing by');
          await follow();
        }
        if (!standingBy) {
          log.log('notice', '⏸️ Another controller leads this store: standing by (trying again every cycle)');
          standingBy = true;
        }
      } else {
        if (!leading) {
          leading = true;
          standingBy = false;
          await system.controller.init(); // another leader may have run cycles meanwhile
          log.log(
            'notice',
            `👑 Leading: cycle every ${config.POLL_INTERVAL_SEC}s, provider ${system.provider.name}, task source ${system.source.name}, resuming after cycle #${system.controller.cycle}`,
          );
          system.projections.start();
          system.reactor.start();
          if (system.simWorkers) {
            const workers = system.simWorkers;
            workerTimer = setInterval(() => {
              workers.tick().catch((err) => log.log('warning', `simulated workers: ${(err as Error).message}`));
            }, 1000);
          }
        }
        try {
          await system.controller.runCycle();
        } catch (err) {
          const msg = `❌ Cycle #${system.controller.cycle} failed: ${(err as Error).message}`;
          log.log('error', msg, { cycle: system.controller.cycle });
          log.mirror(msg);
        }
        if (opts.maxCycles !== undefined && system.controller.cycle - startCycle >= opts.maxCycles) break;
      }
      const elapsed = Date.now() - started;
      await systemClock.sleep(Math.max(0, config.POLL_INTERVAL_SEC * 1000 - elapsed), abort.signal);
    }
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    await follow();
    await system.source.close?.().catch(() => {});
    await system.provider.close?.().catch(() => {});
    await lock.release();
    log.log('notice', 'gpu-scaler stopped');
    await logging.close();
    await store.close();
  }
  return 0;
}
