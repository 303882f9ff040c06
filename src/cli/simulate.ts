import fs from 'node:fs';
import path from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { DEFAULT_POOL } from '../../events/common';
import { appRegistry } from '../../events/index';
import { type Config, ConfigSchema, loadConfig } from '../config';
import { type Configuration, configFileOf, loadConfiguration } from '../config-file';
import { rebuildProjections } from '../projections/rebuild';
import { chartHtml } from '../sim/chart';
import { type PoolsSimulateOptions, simulatePools, tracePoolProblem } from '../sim/pools';
import { compareTable, poolsReportText, reportText, summary } from '../sim/report';
import { type SimResult, simulate } from '../sim/simulate';
import { MAX_RUN_SEC, parseTrace, type Trace, TraceError, type TraceOptions } from '../sim/trace';
import { loadEventsInto } from '../store/bulk-load';
import { openStore } from '../store/index';
import type { MemoryEventStore } from '../store/memory';
import { CliError, type CliIo, EXIT } from './context';
import { helpExamples } from './output';

export interface SimulateFlags {
  trace: string;
  timeColumn?: string;
  /** The trace's pool column (default: a column named pool, when there is one). */
  poolColumn?: string;
  durationColumn?: string;
  prefillTps?: string;
  decodeTps?: string;
  inputTokensColumn?: string;
  outputTokensColumn?: string;
  maxBadShare: string;
  maxRunSec?: string;
  seed: string;
  policy?: string;
  compare?: string;
  set: string[];
  settings?: string;
  startupMinSec: string;
  startupMaxSec: string;
  failureRate: string;
  /** Parking (with PARKED_MAX set): defaults 0.9, 10 s, 30 s. */
  unparkSuccess?: string;
  unparkMinSec?: string;
  unparkMaxSec?: string;
  sloSec: string;
  json?: boolean;
  chart?: string;
  dataDir?: string;
  progress: boolean;
}

const usage = (message: string) => new CliError(message, EXIT.usage);

function number(flag: string, raw: string, o: { min?: number; max?: number; integer?: boolean } = {}): number {
  const n = Number(raw);
  const bad =
    raw.trim() === '' ||
    !Number.isFinite(n) ||
    (o.integer && !Number.isInteger(n)) ||
    (o.min !== undefined && n < o.min) ||
    (o.max !== undefined && n > o.max);
  if (bad) {
    const range = [o.min !== undefined ? `>= ${o.min}` : '', o.max !== undefined ? `<= ${o.max}` : '']
      .filter(Boolean)
      .join(' and ');
    throw usage(
      `${flag} ${raw} is not allowed: expected ${o.integer ? 'a whole number' : 'a number'}${range ? ` ${range}` : ''}`,
    );
  }
  return n;
}

/** The settings of a run: the JSON file, then each --set over it (KEY=VALUE, keys of the tables in docs/configuration.md). */
export function simulationEnv(flags: Pick<SimulateFlags, 'set' | 'settings'>): Record<string, string> {
  const env: Record<string, string> = {};
  const known = new Set(Object.keys(ConfigSchema.shape));
  const put = (key: string, value: unknown, where: string) => {
    if (!known.has(key)) {
      throw usage(
        `${where}: ${key} is not a setting (the settings are the keys of the tables in docs/configuration.md)`,
      );
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw usage(`${where}: ${key} must be a string, a number or a boolean, got ${JSON.stringify(value)}`);
    }
    env[key] = String(value);
  };
  if (flags.settings) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(flags.settings, 'utf8'));
    } catch (err) {
      throw usage(`--settings ${flags.settings}: ${(err as Error).message} (expected a JSON object of settings)`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw usage(`--settings ${flags.settings}: expected a JSON object like {"MAX_ACTIVE_GPUS": 10}`);
    }
    for (const [k, v] of Object.entries(parsed)) put(k, v, `--settings ${flags.settings}`);
  }
  for (const s of flags.set) {
    const i = s.indexOf('=');
    if (i <= 0) throw usage(`--set ${s}: expected KEY=VALUE, e.g. --set MAX_ACTIVE_GPUS=10`);
    put(s.slice(0, i).trim(), s.slice(i + 1).trim(), `--set ${s}`);
  }
  return env;
}

export function traceOptions(flags: SimulateFlags): TraceOptions {
  const tokenFlags = [flags.prefillTps, flags.decodeTps, flags.inputTokensColumn, flags.outputTokensColumn];
  const maxBadShare = number('--max-bad-share', flags.maxBadShare, { min: 0, max: 1 });
  const maxRunSec =
    flags.maxRunSec === undefined ? MAX_RUN_SEC : number('--max-run-sec', flags.maxRunSec, { min: Number.MIN_VALUE });
  const pool = flags.poolColumn === undefined ? {} : { poolColumn: flags.poolColumn };
  if (tokenFlags.every((f) => f === undefined)) {
    return { timeColumn: flags.timeColumn, durationColumn: flags.durationColumn, maxBadShare, maxRunSec, ...pool };
  }
  if (tokenFlags.some((f) => f === undefined)) {
    throw usage(
      'the token model needs all four of --prefill-tps, --decode-tps, --input-tokens-column and --output-tokens-column',
    );
  }
  if (flags.durationColumn) throw usage('--duration-column and the token model exclude each other: use one');
  return {
    timeColumn: flags.timeColumn,
    maxBadShare,
    maxRunSec,
    ...pool,
    tokens: {
      prefillTps: number('--prefill-tps', flags.prefillTps as string, { min: Number.MIN_VALUE }),
      decodeTps: number('--decode-tps', flags.decodeTps as string, { min: Number.MIN_VALUE }),
      inputColumn: flags.inputTokensColumn as string,
      outputColumn: flags.outputTokensColumn as string,
    },
  };
}

function progressBar(io: CliIo, label: string): { update(done: number, total: number): void; stop(): void } {
  if (!io.isTTY) return { update() {}, stop() {} };
  const bar = new SingleBar({
    stream: io.stderr as NodeJS.WriteStream,
    format: `${label} |{bar}| {percentage}% | {value}/{total} simulated s`,
    barsize: 30,
    hideCursor: true,
    clearOnComplete: true,
    noTTYOutput: true,
    fps: 10,
  });
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(Math.round(total), Math.round(done));
        started = true;
      } else {
        bar.setTotal(Math.round(Math.max(total, done)));
        bar.update(Math.round(done));
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

export async function runSimulate(io: CliIo, flags: SimulateFlags): Promise<number> {
  const seed = number('--seed', flags.seed, { min: 0, max: 2 ** 32 - 1, integer: true });
  const startup = {
    minSec: number('--startup-min-sec', flags.startupMinSec, { min: 0 }),
    maxSec: number('--startup-max-sec', flags.startupMaxSec, { min: 0 }),
  };
  if (startup.maxSec < startup.minSec) {
    throw usage(`--startup-max-sec ${startup.maxSec} is below --startup-min-sec ${startup.minSec}`);
  }
  const failureRate = number('--failure-rate', flags.failureRate, { min: 0, max: 1 });
  const unpark = {
    success: number('--unpark-success', flags.unparkSuccess ?? '0.9', { min: 0, max: 1 }),
    minSec: number('--unpark-min-sec', flags.unparkMinSec ?? '10', { min: 0 }),
    maxSec: number('--unpark-max-sec', flags.unparkMaxSec ?? '30', { min: 0 }),
  };
  if (unpark.maxSec < unpark.minSec) {
    throw usage(`--unpark-max-sec ${unpark.maxSec} is below --unpark-min-sec ${unpark.minSec}`);
  }
  const sloSec = number('--slo-sec', flags.sloSec, { min: 0 });
  if (flags.compare && flags.policy)
    throw usage('--policy and --compare exclude each other: --compare names every policy');
  if (flags.compare && (flags.dataDir || flags.chart)) {
    throw usage('--data-dir and --chart take one run: use --policy, not --compare');
  }
  const policies = flags.compare
    ? flags.compare
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [flags.policy ?? null];
  if (policies.length === 0) throw usage('--compare needs a comma-separated list of policies, e.g. operators,default');
  const env = simulationEnv(flags);

  let text: string;
  try {
    text = fs.readFileSync(flags.trace, 'utf8');
  } catch (err) {
    throw usage(`--trace ${flags.trace}: ${(err as Error).message}`);
  }
  let trace: Trace;
  try {
    trace = parseTrace(text, traceOptions(flags));
  } catch (err) {
    if (err instanceof TraceError) throw new CliError(`--trace ${flags.trace}: ${err.message}`, EXIT.failure);
    throw err;
  }
  if (!flags.json) {
    for (const b of trace.bad.slice(0, 20))
      io.stderr.write(`gpu-scaler: ${flags.trace} line ${b.line}: ${b.reason} (skipped)\n`);
    if (trace.bad.length > 20)
      io.stderr.write(`gpu-scaler: ... and ${trace.bad.length - 20} more bad rows (skipped)\n`);
  }

  const configuration = simulationConfiguration(io, flags, env, trace);
  if (configuration && (configuration.pools.length > 1 || trace.tasks.some((t) => t.pool !== undefined))) {
    if (flags.compare) throw usage('--compare takes a run of one pool: with pools, run each policy with --policy');
    if (flags.chart) throw usage('--chart draws a run of one pool: with pools, use --json or --data-dir');
    return runPools(io, flags, { trace, configuration, seed, startup, failureRate, unpark, sloSec });
  }
  const runs: { result: SimResult; wallMs: number }[] = [];
  let kept: Awaited<ReturnType<typeof simulate>>['store'] | null = null;
  for (const policy of policies) {
    // the file's one pool (its policy, or the one --compare names), else --set's settings alone
    const config: Config = configuration
      ? (simulationConfiguration(io, flags, env, trace, policy)?.pools[0].config ?? configuration.pools[0].config)
      : loadConfig(policy ? { ...env, POLICY: policy } : env);
    const bar = flags.progress ? progressBar(io, policy ?? 'simulate') : { update() {}, stop() {} };
    const started = performance.now();
    const { result, store } = await simulate({
      trace,
      config,
      seed,
      startup,
      failureRate,
      unpark,
      sloSec,
      onProgress: (done, total) => bar.update(done, total),
    }).finally(() => bar.stop());
    runs.push({ result, wallMs: performance.now() - started });
    kept = store;
  }

  const name = path.basename(flags.trace);
  if (flags.chart && runs[0]) {
    fs.writeFileSync(flags.chart, chartHtml(runs[0].result, trace.start.getTime(), `gpu-scaler simulate ${name}`));
  }
  if (flags.dataDir && kept) await keepStore(flags.dataDir, kept);

  if (flags.json) {
    const out = flags.compare
      ? { trace: name, tasks: trace.tasks.length, badRows: trace.bad.length, runs: runs.map((r) => summary(r.result)) }
      : { trace: name, badRows: trace.bad.length, ...summary(runs[0].result) };
    io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else if (flags.compare) {
    io.stdout.write(
      `simulate ${name}: ${trace.tasks.length} tasks, seed ${seed}, work bound ${runs[0].result.workBoundSec.toFixed(0)} GPU-s, SLO ${sloSec} s\n`,
    );
    io.stdout.write(compareTable(runs.map((r) => ({ result: r.result }))));
  } else {
    io.stdout.write(reportText(runs[0].result, name));
  }
  if (!flags.json) {
    if (flags.chart) io.stdout.write(`chart: ${flags.chart}\n`);
    if (flags.dataDir) io.stdout.write(storeLine(flags.dataDir));
  }
  // a run that could not drain was ended: say so, and fail
  const undrained = runs.filter((r) => r.result.undrained);
  for (const r of undrained)
    io.stderr.write(`gpu-scaler: simulate ${r.result.policy}: ${r.result.undrained?.message}\n`);
  return undrained.length ? EXIT.failure : EXIT.ok;
}

/**
 * The configuration file's pools for a run (--config FILE or GPU_SCALER_CONFIG), with --settings,
 * --set and --policy over every pool; null without a file (the run's settings are --set's alone, as
 * before pools). The environment's settings are not read (a run depends on its flags and file
 * only); its other variables resolve the file's `${VAR}`s. Every pool runs on the simulated
 * provider and queue, so their settings are not asked for.
 */
function simulationConfiguration(
  io: CliIo,
  flags: SimulateFlags,
  env: Record<string, string>,
  trace: Trace,
  policy: string | null = flags.policy ?? null,
): Configuration | null {
  const file = configFileOf(io.env);
  const named = [...new Set(trace.tasks.flatMap((t) => (t.pool === undefined ? [] : [t.pool])))];
  if (file === null) {
    const others = named.filter((p) => p !== DEFAULT_POOL);
    if (others.length) {
      throw usage(
        `--trace ${flags.trace}: its pool column names ${others.join(', ')}: give their settings with --config FILE (a configuration file with pools: docs/configuration-file.md)`,
      );
    }
    return null;
  }
  const settings = new Set(Object.keys(ConfigSchema.shape));
  const variables = Object.fromEntries(Object.entries(io.env).filter(([k]) => !settings.has(k)));
  const configuration = loadConfiguration(variables, {
    file,
    overrides: {
      ...env,
      ...(policy ? { POLICY: policy } : {}),
      PROVIDER: 'simulated',
      TASK_SOURCE: 'tasks-table',
    },
  });
  const problem = tracePoolProblem(trace, configuration);
  if (problem) throw usage(`--trace ${flags.trace}: ${problem}`);
  return configuration;
}

/** A run of every pool of the configuration (src/sim/pools.ts): a line per pool and the total. */
async function runPools(io: CliIo, flags: SimulateFlags, o: Omit<PoolsSimulateOptions, 'onProgress'>): Promise<number> {
  const bar = flags.progress ? progressBar(io, 'simulate') : { update() {}, stop() {} };
  const { result, store } = await simulatePools({ ...o, onProgress: (done, total) => bar.update(done, total) }).finally(
    () => bar.stop(),
  );
  const name = path.basename(flags.trace);
  if (flags.dataDir) await keepStore(flags.dataDir, store);
  if (flags.json) {
    io.stdout.write(`${JSON.stringify({ trace: name, badRows: o.trace.bad.length, ...result }, null, 2)}\n`);
  } else {
    io.stdout.write(poolsReportText(result, name, o.configuration.file));
    if (flags.dataDir) io.stdout.write(storeLine(flags.dataDir));
  }
  if (result.undrained) {
    io.stderr.write(`gpu-scaler: simulate: pool ${result.undrained.pool}: ${result.undrained.message}\n`);
    return EXIT.failure;
  }
  return EXIT.ok;
}

/** Keeps a simulated store in an embedded PGlite directory, its projections built. */
async function keepStore(dataDir: string, kept: MemoryEventStore): Promise<void> {
  const dir = path.resolve(dataDir);
  const store = await openStore({ target: `pglite://${dir}`, registry: appRegistry, listen: false });
  try {
    await loadEventsInto(store, kept.all());
    await rebuildProjections(store);
  } finally {
    await store.close();
  }
}

const storeLine = (dataDir: string) =>
  `store: ${path.resolve(dataDir)} (explore with DATABASE_URL=pglite://${path.resolve(dataDir)} gpu-scaler explain/events/sql)\n`;

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerSimulate(program: Command, io: CliIo): void {
  program
    .command('simulate')
    .description(
      'backtest: run the real controller on a CSV trace of task arrivals, on a simulated clock, queue and GPU provider',
    )
    .requiredOption('--trace <file>', 'CSV of task arrivals: an arrival time column and a run-time column')
    .option(
      '--pool-column <name>',
      "the trace's pool column: each task is for the pool it names (default: a column named pool; none: pool default)",
    )
    .option('--time-column <name>', 'arrival time: seconds from the start, or an ISO timestamp (UTC without a zone)')
    .option('--duration-column <name>', "a task's run time on one GPU, in seconds")
    .option('--prefill-tps <n>', 'token model: prompt tokens per second per GPU (run = in/prefill + out/decode)')
    .option('--decode-tps <n>', 'token model: generated tokens per second per GPU')
    .option('--input-tokens-column <name>', 'token model: the prompt tokens column')
    .option('--output-tokens-column <name>', 'token model: the generated tokens column')
    .option('--max-bad-share <share>', 'stop when more than this share of rows is bad (0..1)', '0.01')
    .option('--max-run-sec <s>', `a row whose run time is over this is refused as bad (default ${MAX_RUN_SEC}, a day)`)
    .option('--seed <n>', 'seed of start-up times, failures and event ids: same inputs and seed, same output', '1')
    .option('--policy <name>', 'the scaling policy (POLICY): operators, keda, hpa, default')
    .option('--compare <a,b,c>', 'run several policies on the same trace and seed and print one table')
    .option(
      '--set <KEY=VALUE>',
      'a setting of docs/configuration.md (repeatable), e.g. MAX_ACTIVE_GPUS=10',
      collect,
      [],
    )
    .option('--settings <file.json>', 'settings from a JSON object ({"GPU_IDLE_TIMEOUT_SEC": 300}); --set wins')
    .option('--startup-min-sec <s>', 'a cold pod starts after at least this (uniform) ...', '60')
    .option('--startup-max-sec <s>', '... and at most this', '180')
    .option('--failure-rate <share>', 'share of spawns that fail (0..1)', '0')
    .option(
      '--unpark-success <share>',
      'with --set PARKED_MAX=N: share of starts of parked pods that succeed (0..1; the rest are refused and cold-created)',
      '0.9',
    )
    .option('--unpark-min-sec <s>', 'a started parked pod is up after at least this (uniform) ...', '10')
    .option('--unpark-max-sec <s>', '... and at most this', '30')
    .option('--slo-sec <s>', 'a task waiting longer than this misses the SLO', '60')
    .option('--json', 'print the report as JSON (for scripts)')
    .option('--chart <out.html>', 'write queued, active and workers over time with decisions and anomalies (uPlot)')
    .option('--data-dir <dir>', 'keep the simulated store (embedded PGlite) for explain, events and sql')
    .option('--no-progress', 'no progress bar on a terminal')
    .addHelpText(
      'after',
      helpExamples([
        ['a trace with a run-time column', 'gpu-scaler simulate --trace tasks.csv --duration-column exec_time_seconds'],
        [
          'a trace of token counts',
          'gpu-scaler simulate --trace llm.csv --time-column TIMESTAMP --prefill-tps 10000 --decode-tps 50 --input-tokens-column ContextTokens --output-tokens-column GeneratedTokens',
        ],
        ['policies side by side', 'gpu-scaler simulate --trace tasks.csv --compare operators,keda,hpa,default'],
        ['keep the day to explain it', 'gpu-scaler simulate --trace tasks.csv --data-dir ./sim-db --chart sim.html'],
        [
          "a budget split across the file's pools (a trace with a pool column)",
          'gpu-scaler simulate --config pools.yaml --trace tasks.csv --pool-column model',
        ],
      ]),
    )
    .action(async (flags: SimulateFlags) => {
      process.exitCode = await runSimulate(io, flags);
    });
}
