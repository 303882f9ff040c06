import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { type AppEvent, type AppEventType, appRegistry } from '../../events/index';
import { FakeClock } from '../../src/clock';
import { type Config, loadConfig } from '../../src/config';
import type { CycleOutcome } from '../../src/control/controller';
import { type ControlLog, MemoryLog } from '../../src/control/log';
import { controlLog } from '../../src/logging/control-log';
import { createLogging, type Logging } from '../../src/logging/index';
import type { Metrics } from '../../src/observe/metrics';
import type { Provider } from '../../src/providers/provider';
import { SimulatedProvider } from '../../src/providers/simulated';
import type { TaskSource } from '../../src/sources/source';
import { EVENT_COLUMNS, type EventRow, type EventStore, type StoredEvent } from '../../src/store/event-store';
import { buildSystem, type System } from '../../src/system';
import { pgliteBackend, postgresBackend, TEST_DATABASE_URL, type TestBackend } from './backends';

/** A writable that keeps what was written. */
export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.text += chunk.toString();
    cb();
  }
  lines(): string[] {
    return this.text.split('\n').filter((l) => l.length > 0);
  }
}

/** A task source whose answer the test sets; it can also be slow, fail, or answer garbage. */
export class ScriptedSource implements TaskSource {
  readonly name = 'scripted';
  answer: unknown = { queued: 0, active: 0 };
  /** Fake milliseconds the answer takes (advances the fake clock). */
  delayMs = 0;
  error: Error | null = null;
  hang = false;
  calls = 0;
  constructor(private readonly clock: FakeClock) {}
  async fetch(opts: { signal: AbortSignal }): Promise<unknown> {
    this.calls += 1;
    if (this.hang) {
      const pending = new Promise<unknown>((_, reject) =>
        opts.signal.addEventListener('abort', () => reject(new Error('aborted'))),
      );
      setImmediate(() => this.clock.advance(60_000));
      return pending;
    }
    if (this.delayMs) this.clock.advance(this.delayMs);
    if (this.error) throw this.error;
    return this.answer;
  }
  set(queued: number, active = 0): void {
    this.answer = { queued, active };
  }
}

export interface Harness {
  store: EventStore;
  clock: FakeClock;
  config: Config;
  system: System;
  provider: SimulatedProvider;
  logging: Logging;
  stdout: Capture;
  stderr: Capture;
  dir: string;
  logFile: string;
  errorsFile: string;
  /** Runs one step then moves the clock by POLL_INTERVAL_SEC. */
  cycle(): ReturnType<System['step']>;
  /**
   * A restart: a new system on the same store, clock and logging (the harness's provider and
   * source unless given), with `env` over the harness's settings. The harness keeps its own system.
   */
  restart(o?: RestartOptions): Promise<System>;
  /** Every committed event (of one type, typed by it), in position order. */
  events<T extends AppEventType = AppEventType>(type?: T): Promise<StoredEvent<Extract<AppEvent, { type: T }>>[]>;
  close(): Promise<void>;
}

export interface RestartOptions {
  env?: Record<string, string>;
  provider?: Provider;
  source?: TaskSource;
  log?: ControlLog;
  /** Real ms the controller waits for a lagging reactor (default 0, as the harness's own). */
  reactorWaitMs?: number;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  /** Use a ScriptedSource (default) or the tasks table. */
  source?: 'scripted' | 'tasks-table';
  /** Prepare the database before logging starts (e.g. break system_logs). */
  beforeLogging?: (store: EventStore) => Promise<void>;
  start?: string;
  /** Use this provider instead of the simulated one. */
  provider?: Provider;
  /** Measure cycles, provider calls and appends into these metrics (as the service does). */
  metrics?: Metrics;
}

export const SCENARIO_ENV: Record<string, string> = {
  // the scenarios were written against the operators' rule, whose math each one checks
  POLICY: 'operators',
  SIM_STARTUP_MIN_SEC: '5',
  SIM_STARTUP_MAX_SEC: '10',
  SIM_FAILURE_RATE: '0',
  SIM_TASK_SEC: '20',
};

/** The whole system on a test backend, with a fake clock and all four log destinations captured. */
export async function harness(
  backend: Pick<TestBackend, 'name' | 'concurrent'> & { open(registry: typeof appRegistry): Promise<EventStore> },
  o: HarnessOptions = {},
): Promise<Harness & { source: ScriptedSource }> {
  const store = await backend.open(appRegistry);
  await o.beforeLogging?.(store);
  const clock = new FakeClock(o.start ?? '2026-11-27T18:00:00.000Z');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-test-'));
  const logFile = path.join(dir, 'orchestrator.log');
  const errorsFile = path.join(dir, 'db_logging_errors.log');
  const stdout = new Capture();
  const stderr = new Capture();
  const config = loadConfig({ ...SCENARIO_ENV, ...o.env });
  const logging = await createLogging(
    {
      format: 'pretty',
      logFile,
      dbErrorsFile: errorsFile,
      dbLoggingRequired: config.DB_LOGGING_REQUIRED,
      stdout,
      stderr,
      now: () => clock.now(),
      flushMs: 60_000,
      sourceId: 'test',
    },
    store.db,
  );
  const source = new ScriptedSource(clock);
  const provider = new SimulatedProvider({
    clock,
    startupMinSec: config.SIM_STARTUP_MIN_SEC,
    startupMaxSec: config.SIM_STARTUP_MAX_SEC,
    failureRate: config.SIM_FAILURE_RATE,
    seed: config.SIM_SEED,
  });
  const system = await buildSystem({
    store,
    config,
    clock,
    log: controlLog(logging),
    dbLogging: () => logging.dbStats(),
    provider: o.provider ?? provider,
    source: o.source === 'tasks-table' ? undefined : source,
    reactorWaitMs: 0,
    metrics: o.metrics,
  });
  const metrics = o.metrics;
  if (metrics) store.signals.on('appendTimed', (sec) => metrics.appendFinished(sec));
  return {
    store,
    clock,
    config,
    system,
    provider,
    logging,
    stdout,
    stderr,
    dir,
    logFile,
    errorsFile,
    source,
    async cycle() {
      const out = await system.step();
      clock.advance(config.POLL_INTERVAL_SEC * 1000);
      return out;
    },
    restart(r: RestartOptions = {}) {
      return buildSystem({
        store,
        config: r.env ? loadConfig({ ...SCENARIO_ENV, ...o.env, ...r.env }) : config,
        clock,
        log: r.log ?? new MemoryLog(),
        dbLogging: () => logging.dbStats(),
        provider: r.provider ?? o.provider ?? provider,
        source: r.source ?? source,
        reactorWaitMs: r.reactorWaitMs ?? 0,
      });
    },
    async events<T extends AppEventType = AppEventType>(type?: T) {
      // every committed event, in position order: what a test asserts on, whatever else is open
      const rows = await store.db.query<EventRow>(
        `select ${EVENT_COLUMNS}
           from events where $1::text is null or event_type = $1 order by global_position`,
        [type ?? null],
      );
      // without a type T is every type; with one, the query returned only that type
      const ofType = (e: StoredEvent): e is StoredEvent<Extract<AppEvent, { type: T }>> =>
        type === undefined || e.type === type;
      return rows.map((r) => store.decode(r)).filter(ofType);
    },
    async close() {
      await logging.close();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A cycle that decided (its decision and anomalies); throws, failing the test, when it did not. */
export function decided(outcome: CycleOutcome): Extract<CycleOutcome, { kind: 'decided' }> {
  if (outcome.kind !== 'decided') throw new Error(`expected a decision, got ${JSON.stringify(outcome)}`);
  return outcome;
}

/** PGlite, and the server when TEST_DATABASE_URL is set: the backends forEachBackend runs on. */
export const BACKENDS = { pglite: pgliteBackend, postgres: () => postgresBackend(), hasServer: !!TEST_DATABASE_URL };

/** Runs a suite against PGlite, and against the server when TEST_DATABASE_URL is set. */
export function forEachBackend(
  name: string,
  makers: { pglite: () => TestBackend; postgres: () => TestBackend; hasServer: boolean },
  suite: (getBackend: () => TestBackend) => void,
): void {
  for (const kind of ['pglite', 'postgres'] as const) {
    const d = kind === 'postgres' && !makers.hasServer ? describe.skip : describe;
    d(`${name} [${kind}]`, () => {
      let backend: TestBackend;
      beforeAll(async () => {
        backend = makers[kind]();
        await backend.ready?.();
      }, 120_000);
      afterAll(async () => {
        await backend.teardown();
      });
      suite(() => backend);
    });
  }
}
