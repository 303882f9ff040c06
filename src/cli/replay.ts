import { SingleBar } from 'cli-progress';
import { type Command, Option } from 'commander';
import { ALL_PROJECTIONS } from '../../projections/index';
import { hasCode } from '../errors';
import {
  type AnyProjection,
  asOfSchemaName,
  type RebuildProgress,
  type RebuildResult,
  rebuildProjections,
  type Until,
} from '../projections/rebuild';
import { REACTOR_CHECKPOINT } from '../reactor/reactor';
import { advanceCheckpoint, loadCheckpoint } from '../store/checkpoints';
import { type Checkpoint, type EventStore, START } from '../store/event-store';
import { grantReaderOnSchema } from '../store/roles';
import { CliError, type CliIo, EXIT, withStore, writeJson } from './context';
import { jsonOption, nowOption, parseUntil, poolOption, readClock, untilOption, utcOption, wholeNumber } from './flags';

/** Test seams: the store opener. */
export interface ReplayDeps {
  withStore?: typeof withStore;
}

interface RawOptions {
  projection: string;
  until?: string;
  into?: string;
  utc?: boolean;
  now?: string;
  json?: boolean;
  batchSize: number;
  pool?: string[];
}

const PROJECTION_NAMES = ALL_PROJECTIONS.map((p) => p.name);

/** `--projection NAME|all`, or several names separated by commas. */
export function selectProjections(value: string): AnyProjection[] {
  const wanted = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (wanted.length === 0 || wanted.includes('all')) return [...ALL_PROJECTIONS];
  const unknown = wanted.filter((w) => !PROJECTION_NAMES.includes(w));
  if (unknown.length) {
    throw new CliError(
      `--projection ${unknown.join(', ')}: no such projection; use all or one of ${PROJECTION_NAMES.join(', ')}`,
      EXIT.usage,
    );
  }
  return ALL_PROJECTIONS.filter((p) => wanted.includes(p.name));
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');

/** Shows progress: a bar on a terminal, a plain line every few seconds otherwise. */
function progressReporter(io: CliIo): { update(p: RebuildProgress): void; stop(): void } {
  if (io.isTTY) {
    const bar = new SingleBar({
      stream: io.stderr as NodeJS.WriteStream,
      format: 'replay |{bar}| {percentage}% | {value}/{total} events | {rate} events/s | {phase}',
      barsize: 30,
      hideCursor: true,
      clearOnComplete: true,
      noTTYOutput: true, // io.isTTY is the caller's word for it, whatever the stream says
      notTTYSchedule: 1000,
      fps: 10,
    });
    let started = false;
    return {
      update(p) {
        const total = Math.max(p.headPosition, p.events, 1);
        const payload = {
          rate: fmt(p.elapsedMs > 0 ? (p.events / p.elapsedMs) * 1000 : 0),
          phase: p.phase === 'swap' ? 'swapping in' : 'building',
        };
        if (!started) {
          bar.start(total, p.events, payload);
          started = true;
        } else {
          bar.setTotal(total);
          bar.update(p.events, payload);
        }
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let last = Date.now();
  return {
    update(p) {
      const now = Date.now();
      // quick runs print nothing here; long ones a line every 5 s, and one when the swap starts
      if (p.phase === 'build' ? now - last < 5000 : p.elapsedMs < 5000) return;
      last = now;
      const pct = p.headPosition > 0 ? ` (${Math.min(100, Math.floor((p.position / p.headPosition) * 100))}%)` : '';
      io.stderr.write(
        p.phase === 'swap'
          ? `replay: ${fmt(p.events)} events read; catching up and swapping in\n`
          : `replay: ${fmt(p.events)} events read${pct}, ${fmt((p.events / Math.max(1, p.elapsedMs)) * 1000)} events/s\n`,
      );
    },
    stop() {},
  };
}

/**
 * After a full rebuild: a reactor without a checkpoint (the state a logical restore leaves once the
 * checkpoints are reset) is set to where the rebuild reached, so it never re-reads all history nor
 * acts again on decisions that were acted on before the backup. Skipping is safe: a decision not
 * acted on is made again by the next cycle from the fleet as it is, and an old one would be stale
 * anyway (DECISION_STALE_SEC). A reactor with a checkpoint is left alone. Returns the new one.
 */
export async function settleReactorCheckpoint(store: EventStore, to: Checkpoint): Promise<Checkpoint | null> {
  const current = await loadCheckpoint(store.db, REACTOR_CHECKPOINT);
  if (current.txId !== START.txId || current.position !== START.position) return null;
  if (to.position === START.position) return null;
  const moved = await store.db.transaction((tx) => advanceCheckpoint(tx, REACTOR_CHECKPOINT, START, to));
  return moved ? to : null;
}

/** The final summary: events read, rows per table, seconds, events/s; then where the tables are. */
export function summaryLines(r: RebuildResult): string[] {
  const tables = r.tables.map((t) => `${t.table} ${fmt(t.rows)} rows`).join(', ');
  const head =
    `replay: ${fmt(r.events)} events read; ${tables}; ` +
    `${r.seconds.toFixed(2)} s, ${fmt(r.eventsPerSecond)} events/s`;
  if (r.mode === 'swap') {
    const caught = r.caughtUp ? ` (${fmt(r.caughtUp)} of them committed during the rebuild)` : '';
    return [
      head,
      `swapped into ${r.schema} at position ${r.lastPosition}${caught}; live projections continue from there`,
    ];
  }
  const until = r.until as Until;
  const asOf = until.kind === 'position' ? `position ${until.position}` : `${until.time.toISOString()} (event time)`;
  const first = r.tables[0]?.table ?? 'workers';
  return [
    head,
    `built as of ${asOf} in schema ${r.schema} (last position folded: ${r.lastPosition}); the live tables are untouched`,
    `query it: gpu-scaler sql "select * from ${r.schema}.${first}"`,
  ];
}

function toJson(r: RebuildResult) {
  return {
    mode: r.mode,
    schema: r.schema,
    until:
      r.until === undefined
        ? null
        : r.until.kind === 'position'
          ? { position: r.until.position }
          : { time: r.until.time.toISOString() },
    events: r.events,
    caughtUp: r.caughtUp,
    lastPosition: r.lastPosition,
    checkpoint: r.mode === 'swap' ? { txId: r.checkpoint.txId, position: r.checkpoint.position } : null,
    seconds: Number(r.seconds.toFixed(3)),
    eventsPerSecond: Math.round(r.eventsPerSecond),
    tables: r.tables.map((t) => ({
      projection: t.projection,
      table: `${r.schema}.${t.table}`,
      rows: t.rows,
      events: t.events,
    })),
    query: r.mode === 'as-of' ? `select * from ${r.schema}.${r.tables[0]?.table ?? 'workers'}` : null,
  };
}

export interface ReplayOptions {
  projections: AnyProjection[];
  until?: Until;
  into?: string;
  batchSize: number;
  json: boolean;
  /** `--pool` (with --until): the as-of tables hold only this pool's rows. */
  pool?: string;
}

/** Commander's options -> validated ReplayOptions (usage errors exit 2). */
export function replayOptions(raw: RawOptions, clock = new Date()): ReplayOptions {
  const projections = selectProjections(raw.projection);
  const { utc, now } = readClock(raw, clock);
  const until = raw.until !== undefined ? parseUntil(raw.until, { utc, now, allowAgo: true }) : undefined;
  if (raw.into !== undefined && !until) throw new CliError('--into needs --until', EXIT.usage);
  if (raw.into !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(raw.into)) {
    throw new CliError(
      `--into "${raw.into}": use letters, digits and _ (at most 63), not starting with a digit`,
      EXIT.usage,
    );
  }
  const pools = raw.pool ?? [];
  if (pools.length > 1) {
    throw new CliError(`--pool is given ${pools.length} times: replay builds one pool's tables, name one`, EXIT.usage);
  }
  const pool = pools[0];
  if (pool !== undefined && !until) {
    throw new CliError(
      `--pool ${pool} needs --until: a full rebuild swaps in every pool's rows at once (the live tables are the store's); ` +
        "one pool's tables as of a moment are built aside: gpu-scaler replay --pool " +
        `${pool} --until <position|time>`,
      EXIT.usage,
    );
  }
  // one pool's as-of tables get a schema of their own by default (asof_pos_1200_video), never the
  // one a replay of every pool would use
  const into = raw.into ?? (pool !== undefined && until ? poolSchemaName(until, pool) : undefined);
  return { projections, until, into, batchSize: raw.batchSize, json: raw.json === true, pool };
}

/** The default as-of schema of one pool: asof_pos_1200_video (a pool name's '-' as '_'). */
export const poolSchemaName = (until: Until, pool: string): string =>
  `${asOfSchemaName(until)}_${pool.replace(/-/g, '_')}`.slice(0, 63);

/**
 * Keeps one pool's rows in the as-of schema's tables (every projection row names its pool:
 * migrations/0020_pool_columns.sql); returns the rows each table kept.
 */
async function keepPool(store: EventStore, result: RebuildResult, pool: string): Promise<RebuildResult> {
  const tables = [];
  for (const t of result.tables) {
    const table = `${quoteIdent(result.schema)}.${quoteIdent(t.table)}`;
    await store.db.query(`delete from ${table} where pool <> $1`, [pool]);
    const [{ n }] = await store.db.query<{ n: number }>(`select count(*)::int as n from ${table}`);
    tables.push({ ...t, rows: Number(n) });
  }
  return { ...result, tables };
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Runs `replay` on an open store: rebuilds (or builds as of --until) and prints the summary. */
export async function runReplay(store: EventStore, o: ReplayOptions, io: CliIo): Promise<void> {
  const progress = progressReporter(io);
  let result: RebuildResult;
  try {
    result = await rebuildProjections(store, {
      projections: o.projections,
      until: o.until,
      into: o.into,
      batchSize: o.batchSize,
      onProgress: (p) => progress.update(p),
    });
  } catch (err) {
    if (hasCode(err, 'REBUILD')) throw new CliError(err.message, EXIT.failure, { cause: err });
    throw err;
  } finally {
    progress.stop();
  }
  if (o.pool !== undefined && result.mode === 'as-of') result = await keepPool(store, result, o.pool);
  // the as-of schema is the caller's: the reader gets to read it, so the printed `sql` query runs
  if (result.mode === 'as-of') await grantReaderOnSchema(store.db, result.schema);
  const reactor = result.mode === 'swap' ? await settleReactorCheckpoint(store, result.checkpoint) : null;
  if (o.json)
    writeJson(io, {
      ...toJson(result),
      ...(o.pool !== undefined ? { pool: o.pool } : {}),
      reactorCheckpointSetTo: reactor?.position ?? null,
    });
  else {
    for (const line of summaryLines(result)) io.stdout.write(`${line}\n`);
    if (o.pool !== undefined) io.stdout.write(`the tables hold pool ${o.pool}'s rows only\n`);
    if (reactor) {
      io.stdout.write(
        `the reactor had no checkpoint: set to position ${reactor.position}, so decisions recorded before it are never acted on again\n`,
      );
    }
  }
}

export function registerReplay(program: Command, io: CliIo): void {
  defineReplayCommand(program, io);
}

/** Adds `replay` to a program; tests pass deps to run it on their own store. */
export function defineReplayCommand(program: Command, io: CliIo, deps: ReplayDeps = {}): Command {
  const open = deps.withStore ?? withStore;
  return program
    .command('replay')
    .summary('rebuild projection tables from the events, or build them as of a moment')
    .description(
      'Rebuild the projection tables (workers, scaling_decisions, anomalies, health_summaries) from the events.\n\n' +
        'Without --until: a full rebuild while the service may keep running. The tables are built aside ' +
        '(<table>__rebuild), then swapped in with their checkpoints in one transaction; the live runner ' +
        'continues from there. The result equals the incremental projections.\n\n' +
        'With --until: the tables as they were at that moment, built into a separate schema ' +
        '(asof_pos_<n>, or asof_<yyyymmdd_hhmmss> in UTC); the live tables are not touched. A position ' +
        'includes every event up to and including it. A time includes every event whose own time is at ' +
        "or before it: data.at, the controller's clock (simulated in the demo and tests), or recorded_at " +
        'for an event without one.',
    )
    .option('--projection <name>', `all, or one of ${PROJECTION_NAMES.join(', ')} (comma-separated for several)`, 'all')
    .addOption(untilOption('the tables as of'))
    .addOption(utcOption())
    .addOption(nowOption())
    .option('--into <schema>', 'with --until: the schema to build into (default asof_…)')
    .addOption(
      poolOption(
        "with --until: the tables hold this pool's rows only (default schema asof_…_<pool>; without --pool, every pool's)",
      ),
    )
    .addOption(
      new Option('--batch-size <n>', 'events per write batch (one upsert per table per batch)')
        .default(5000)
        .argParser(wholeNumber('--batch-size', 1)),
    )
    .addOption(jsonOption('print the result as JSON'))
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  rebuild every projection (safe while the service runs)',
        '    gpu-scaler replay',
        '  rebuild only the workers table',
        '    gpu-scaler replay --projection workers',
        '  the tables as they were at 18:26 today (UTC), then query them',
        '    gpu-scaler replay --until 18:26 --utc',
        '    gpu-scaler sql "select * from asof_20261127_182600.workers"',
        '  as of global position 1200, as JSON',
        '    gpu-scaler replay --until 1200 --json',
        "  pool video's tables as of 18:26 (schema asof_20261127_182600_video)",
        '    gpu-scaler replay --pool video --until 18:26 --utc',
        '',
        'Progress goes to stderr (a bar on a terminal); the summary to stdout.',
        'Exit status: 0 rebuilt, 1 failure (nothing swapped in), 2 bad usage.',
        '',
      ].join('\n'),
    )
    .action(async (raw: RawOptions) => {
      const o = replayOptions(raw);
      await open(io, (store) => runReplay(store, o, io));
    });
}
