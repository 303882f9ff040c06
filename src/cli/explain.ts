import type { Command } from 'commander';
import { DEFAULT_POOL } from '../../events/common';
import { ALL_POOLS } from '../../events/operator';
import { type Explanation, explain } from '../explain/explain';
import { poolHeading, poolsInStore, unknownPoolText } from '../explain/pools';
import {
  decisionIds,
  dedupeEvents,
  eventRange,
  eventsBetween,
  eventsCausedBy,
  eventsOfCycle,
  eventsOfCycles,
  taskTotalsBefore,
} from '../store/event-queries';
import type { EventRow, EventStore, StoredEvent } from '../store/event-store';
import { CliError, type CliIo, EXIT, withStore, writeJson } from './context';
import {
  inPools,
  jsonOption,
  nowOption,
  parseSince,
  poolOption,
  readClock,
  TIME_FORMS,
  utcOption,
  windowOption,
} from './flags';
import { toDate } from './output';
import { clockTime, parseDuration } from './time';

/** Test seams: the store opener. */
export interface ExplainDeps {
  withStore?: typeof withStore;
}

export interface ExplainOptions {
  at?: string;
  cycle?: string;
  window: string;
  utc?: boolean;
  json?: boolean;
  now?: string;
  /**
   * `--pool`: only these pools' events; with --cycle, the one pool whose cycle it is. Without it:
   * every pool, each explained under its heading when there are several.
   */
  pool?: string[];
}

/** Finds the events of a moment (or a cycle) and the spawns they caused, and explains them. */
export async function runExplain(store: EventStore, io: CliIo, o: ExplainOptions): Promise<number> {
  const windowMs = parseDuration(o.window, '--window');
  const { utc, now } = readClock(o);
  let focusCycle: number | null = null;
  let focusAt: Date | null = null;
  if (o.cycle !== undefined || (o.at && /^\d+$/.test(o.at))) {
    const text = o.cycle ?? (o.at as string);
    focusCycle = Number(text);
    if (!Number.isInteger(focusCycle) || focusCycle < 1) {
      throw new CliError(`--cycle "${text}" is not a cycle number: use a whole number >= 1`, EXIT.usage);
    }
  } else if (o.at) {
    focusAt = parseSince(o.at, { utc, now, flag: '--at' });
  } else {
    throw new CliError('say when: --at 18:25 (time of day), --at 2026-11-27T18:25:00Z, or --cycle 640', EXIT.usage);
  }

  const pools = o.pool ?? [];
  if (focusCycle !== null && pools.length > 1) {
    throw new CliError(
      `--cycle ${focusCycle} is a cycle of one pool (each pool counts its own cycles): give one --pool, not ${pools.length}`,
      EXIT.usage,
    );
  }
  const decode = (rows: EventRow[]) => store.decodeRows(rows);
  /** Each pool's events (a pool's cycles are its own: explained apart), in pool order. */
  let groups: { pool: string; events: StoredEvent[] }[];
  if (focusCycle !== null) {
    groups = await cycleGroups(store, focusCycle, windowMs, pools[0] ?? null);
  } else {
    const at = focusAt as Date;
    const from = new Date(at.getTime() - windowMs / 2);
    const to = new Date(at.getTime() + windowMs / 2);
    const events = decode(await eventsBetween(store, from, to)).filter((e) => inPools(pools, e.data.pool));
    if (events.length === 0) {
      const range = await eventRange(store);
      const [first, last] = [toDate(range.first), toDate(range.last)];
      const where =
        first && last
          ? ` The store has events from ${first.toISOString()} to ${last.toISOString()}.`
          : ' The store is empty.';
      const ofPools = pools.length ? ` of pool ${pools.join(', ')}` : '';
      if (pools.length) await checkPoolsKnown(store, pools);
      throw new CliError(
        `no events${ofPools} between ${from.toISOString()} and ${to.toISOString()}.${where} Try a wider --window (e.g. --window 30m), another --at, or --utc if you gave a UTC time.`,
        EXIT.empty,
      );
    }
    const all = dedupeEvents([...events, ...decode(await eventsCausedBy(store, decisionIds(events)))]);
    groups = groupByPool(all, pools);
  }
  // the task total each pool observed before its first cycle here (every pool's in one statement)
  const firstCycles = groups.map((g) =>
    Math.min(...g.events.map((e) => ('cycle' in e.data ? e.data.cycle : null) ?? Number.POSITIVE_INFINITY)),
  );
  const totals = await taskTotalsBefore(
    store,
    groups.flatMap((g, i) => (Number.isFinite(firstCycles[i]) ? [{ pool: g.pool, cycle: firstCycles[i] }] : [])),
  );
  const results: { pool: string; result: Explanation }[] = groups.map((g) => ({
    pool: g.pool,
    result: explain(g.events, { focusCycle, focusAt, previousTotal: totals.get(g.pool) ?? null }),
  }));

  const head = { at: focusAt?.toISOString() ?? null, cycle: focusCycle, window: o.window };
  if (o.json) {
    // one pool: as before pools; several: one explanation each, under its pool
    if (results.length === 1) writeJson(io, { ...head, ...results[0].result });
    else writeJson(io, { ...head, pools: results.map((r) => ({ pool: r.pool, ...r.result })) });
    return EXIT.ok;
  }
  results.forEach(({ pool, result }, i) => {
    if (results.length > 1) io.stdout.write(`${i ? '\n' : ''}${poolHeading(pool)}\n`);
    for (const line of result.timeline) {
      io.stdout.write(`[${clockTime(new Date(line.at), utc)}] #${line.position} ${line.text}\n`);
    }
    io.stdout.write(`\n${result.conclusion}\n`);
  });
  return EXIT.ok;
}

/**
 * The events of cycle `cycle`: of the pool named, else of every pool in the store that has that
 * cycle (each pool counts its own cycles). None: an error saying which cycles there are, or, for a
 * pool the store has no record of, which pools there are.
 */
async function cycleGroups(
  store: EventStore,
  cycle: number,
  windowMs: number,
  pool: string | null,
): Promise<{ pool: string; events: StoredEvent[] }[]> {
  if (pool !== null) {
    const found = await eventsOfCycle(store, cycle, windowMs, pool);
    if (found.events !== null) return [{ pool, events: found.events }];
    if (found.maxCycle === null) await checkPoolsKnown(store, [pool]);
    throw new CliError(`no cycle #${cycle} of pool ${pool} in the store${cyclesText(found.maxCycle)}`, EXIT.empty);
  }
  const known = await poolsInStore(store);
  const candidates = known.length ? known : [DEFAULT_POOL];
  const groups: { pool: string; events: StoredEvent[] }[] = [];
  const missed: { pool: string; maxCycle: number | null }[] = [];
  // every pool's reads at once: with 100 pools one after the other, the round trips alone took most
  // of a second, and side by side 400 statements still took a quarter of one
  const founds = await eventsOfCycles(store, cycle, windowMs, candidates);
  candidates.forEach((p) => {
    const found = founds.get(p) ?? { events: null, maxCycle: null };
    if (found.events !== null) groups.push({ pool: p, events: found.events });
    else missed.push({ pool: p, maxCycle: found.maxCycle });
  });
  if (groups.length) return groups;
  if (missed.length === 1) {
    throw new CliError(`no cycle #${cycle} in the store${cyclesText(missed[0].maxCycle)}`, EXIT.empty);
  }
  const each = missed.map((m) => `pool ${m.pool}: ${m.maxCycle ? `1 to ${m.maxCycle}` : 'none yet'}`).join('; ');
  throw new CliError(`no cycle #${cycle} in any pool of the store (cycles run ${each})`, EXIT.empty);
}

const cyclesText = (max: number | null) => (max ? ` (cycles run from 1 to ${max})` : ' (it has no cycles yet)');

/** A --pool the store has no record of is an error naming the pools it has. */
async function checkPoolsKnown(store: EventStore, pools: readonly string[]): Promise<void> {
  const known = await poolsInStore(store);
  const unknown = pools.find((p) => !known.includes(p));
  if (unknown !== undefined) throw new CliError(unknownPoolText(unknown, known), EXIT.empty);
}

/**
 * Events split by pool (an operator command on every pool goes to each), pools in the order
 * default first, then by name; the pools asked for with --pool each get a group.
 */
export function groupByPool(
  events: readonly StoredEvent[],
  asked: readonly string[],
): { pool: string; events: StoredEvent[] }[] {
  const named = new Set<string>(asked);
  for (const e of events) {
    const p = e.data.pool ?? DEFAULT_POOL;
    if (p !== ALL_POOLS) named.add(p);
  }
  const pools = [...named].sort((a, b) =>
    a === DEFAULT_POOL ? -1 : b === DEFAULT_POOL ? 1 : a < b ? -1 : a > b ? 1 : 0,
  );
  if (pools.length === 0) return [{ pool: DEFAULT_POOL, events: [...events] }];
  return pools
    .map((pool) => ({ pool, events: events.filter((e) => inPools([pool], e.data.pool)) }))
    .filter((g) => g.events.some((e) => (e.data.pool ?? DEFAULT_POOL) !== ALL_POOLS));
}

export function registerExplain(program: Command, io: CliIo): void {
  defineExplainCommand(program, io);
}

/** Adds `explain` to a program; tests pass deps to run it on their own store. */
export function defineExplainCommand(program: Command, io: CliIo, deps: ExplainDeps = {}): Command {
  const open = deps.withStore ?? withStore;
  return program
    .command('explain')
    .description('why did it scale? the timeline around a moment, from the events alone, and a conclusion')
    .option('--at <time>', `the moment: ${TIME_FORMS}, a duration ago (30m), or a cycle number`)
    .option('--cycle <n>', 'a cycle number instead of a time')
    .addOption(
      poolOption(
        "only this pool's events; with --cycle, the pool whose cycle it is (default: every pool that has that cycle, each under its heading)",
      ),
    )
    .addOption(windowOption('centred on --at, or from the cycle on with --cycle', '2m'))
    .addOption(utcOption())
    .addOption(jsonOption('print the timeline, the facts of each cycle and the conclusion as JSON'))
    .addOption(nowOption())
    .addHelpText(
      'after',
      "\nExamples:\n  gpu-scaler explain --at 18:25\n  gpu-scaler explain --at 2026-11-27T18:25:42Z --window 5m\n  gpu-scaler explain --cycle 640 --json\n\nTimes are the events' own times (data.at, from the controller's clock).",
    )
    .action(async (o: ExplainOptions) => {
      process.exitCode = await open(io, (store) => runExplain(store, io, o));
    });
}
