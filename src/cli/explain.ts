import type { Command } from 'commander';
import { DEFAULT_POOL } from '../../events/common';
import { explain } from '../explain/explain';
import {
  decisionIds,
  dedupeEvents,
  eventRange,
  eventsBetween,
  eventsCausedBy,
  eventsOfCycle,
  taskTotalBefore,
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
  /** `--pool`: only these pools' events; with --cycle, the one pool whose cycle it is (default: default). */
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
  const pool = pools[0] ?? DEFAULT_POOL;
  const decode = (rows: EventRow[]) => store.decodeRows(rows);
  let events: StoredEvent[];
  if (focusCycle !== null) {
    const found = await eventsOfCycle(store, focusCycle, windowMs, pool);
    if (found.events === null) {
      const max = found.maxCycle;
      const where = pools.length ? ` of pool ${pool}` : '';
      throw new CliError(
        `no cycle #${focusCycle}${where} in the store${max ? ` (cycles run from 1 to ${max})` : ' (it has no cycles yet)'}`,
        EXIT.empty,
      );
    }
    events = found.events;
  } else {
    const at = focusAt as Date;
    const from = new Date(at.getTime() - windowMs / 2);
    const to = new Date(at.getTime() + windowMs / 2);
    events = decode(await eventsBetween(store, from, to)).filter((e) => inPools(pools, e.data.pool));
    if (events.length === 0) {
      const range = await eventRange(store);
      const [first, last] = [toDate(range.first), toDate(range.last)];
      const where =
        first && last
          ? ` The store has events from ${first.toISOString()} to ${last.toISOString()}.`
          : ' The store is empty.';
      const ofPools = pools.length ? ` of pool ${pools.join(', ')}` : '';
      throw new CliError(
        `no events${ofPools} between ${from.toISOString()} and ${to.toISOString()}.${where} Try a wider --window (e.g. --window 30m), another --at, or --utc if you gave a UTC time.`,
        EXIT.empty,
      );
    }
    events = dedupeEvents([...events, ...decode(await eventsCausedBy(store, decisionIds(events)))]);
  }
  const firstCycle = Math.min(
    ...events.map((e) => ('cycle' in e.data ? e.data.cycle : null) ?? Number.POSITIVE_INFINITY),
  );
  const previousTotal = Number.isFinite(firstCycle) ? await taskTotalBefore(store, firstCycle, pool) : null;
  const result = explain(events, { focusCycle, focusAt, previousTotal });

  if (o.json) {
    writeJson(io, { at: focusAt?.toISOString() ?? null, cycle: focusCycle, window: o.window, ...result });
    return EXIT.ok;
  }
  for (const line of result.timeline) {
    io.stdout.write(`[${clockTime(new Date(line.at), utc)}] #${line.position} ${line.text}\n`);
  }
  io.stdout.write(`\n${result.conclusion}\n`);
  return EXIT.ok;
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
    .addOption(poolOption("only this pool's events; with --cycle, the pool whose cycle it is (default: default)"))
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
