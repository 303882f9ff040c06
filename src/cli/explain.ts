import type { Command } from 'commander';
import { explain } from '../explain/explain';
import { causedBy, dedupeEvents, eventsOfCycle, queryEvents, totalBefore } from '../store/cycle-events';
import type { EventStore, StoredEvent } from '../store/event-store';
import { EVENT_TIME_SQL } from '../store/event-time';
import { CliError, type CliIo, EXIT, withStore, writeJson } from './context';
import { toDate } from './output';
import { clockTime, DURATION_FORMS, NOW_HELP, parseDuration, parseNow, parseTime } from './time';

export interface ExplainOptions {
  at?: string;
  cycle?: string;
  window: string;
  utc?: boolean;
  json?: boolean;
  now?: string;
}

/** Finds the events of a moment (or a cycle) and the spawns they caused, and explains them. */
export async function runExplain(store: EventStore, io: CliIo, o: ExplainOptions): Promise<number> {
  const windowMs = parseDuration(o.window, '--window');
  let focusCycle: number | null = null;
  let focusAt: Date | null = null;
  if (o.cycle !== undefined || (o.at && /^\d+$/.test(o.at))) {
    const text = o.cycle ?? (o.at as string);
    focusCycle = Number(text);
    if (!Number.isInteger(focusCycle) || focusCycle < 1) {
      throw new CliError(`--cycle "${text}" is not a cycle number: use a whole number >= 1`, EXIT.usage);
    }
  } else if (o.at) {
    focusAt = parseTime(o.at, { utc: o.utc, now: parseNow(o.now, o.utc) });
  } else {
    throw new CliError('say when: --at 18:25 (time of day), --at 2026-11-27T18:25:00Z, or --cycle 640', EXIT.usage);
  }

  let events: StoredEvent[];
  if (focusCycle !== null) {
    const found = await eventsOfCycle(store, focusCycle, windowMs);
    if (found.events === null) {
      const max = found.maxCycle;
      throw new CliError(
        `no cycle #${focusCycle} in the store${max ? ` (cycles run from 1 to ${max})` : ' (it has no cycles yet)'}`,
        EXIT.empty,
      );
    }
    events = found.events;
  } else {
    const at = focusAt as Date;
    const from = new Date(at.getTime() - windowMs / 2).toISOString();
    const to = new Date(at.getTime() + windowMs / 2).toISOString();
    events = await queryEvents(store, `${EVENT_TIME_SQL} >= $1::timestamptz and ${EVENT_TIME_SQL} <= $2::timestamptz`, [
      from,
      to,
    ]);
    if (events.length === 0) {
      const [range] = await store.db.query<{ first: unknown; last: unknown }>(
        `select min(${EVENT_TIME_SQL}) as first, max(${EVENT_TIME_SQL}) as last from events`,
      );
      const [first, last] = [toDate(range.first), toDate(range.last)];
      const where =
        first && last
          ? ` The store has events from ${first.toISOString()} to ${last.toISOString()}.`
          : ' The store is empty.';
      throw new CliError(
        `no events between ${from} and ${to}.${where} Try a wider --window (e.g. --window 30m), another --at, or --utc if you gave a UTC time.`,
        EXIT.empty,
      );
    }
    const ids = events.filter((e) => e.type === 'ScalingDecided').map((e) => e.eventId);
    if (ids.length) events = dedupeEvents([...events, ...(await causedBy(store, ids))]);
  }
  const firstCycle = Math.min(...events.map((e) => (e.data as { cycle?: number }).cycle ?? Number.POSITIVE_INFINITY));
  const previousTotal = Number.isFinite(firstCycle) ? await totalBefore(store, firstCycle) : null;
  const result = explain(events, { focusCycle, focusAt, previousTotal });

  if (o.json) {
    writeJson(io, { at: focusAt?.toISOString() ?? null, cycle: focusCycle, window: o.window, ...result });
    return EXIT.ok;
  }
  for (const line of result.timeline) {
    io.stdout.write(`[${clockTime(new Date(line.at), o.utc)}] #${line.position} ${line.text}\n`);
  }
  io.stdout.write(`\n${result.conclusion}\n`);
  return EXIT.ok;
}

export function registerExplain(program: Command, io: CliIo): void {
  program
    .command('explain')
    .description('why did it scale? the timeline around a moment, from the events alone, and a conclusion')
    .option('--at <time>', 'a time of day (18:25, today), an ISO timestamp, or a cycle number')
    .option('--cycle <n>', 'a cycle number instead of a time')
    .option('--window <duration>', `how much time around --at to show: ${DURATION_FORMS}`, '2m')
    .option('--utc', 'read and print times in UTC (default: local time)')
    .option('--json', 'print the timeline, the facts of each cycle and the conclusion as JSON')
    .option('--now <time>', NOW_HELP)
    .addHelpText(
      'after',
      "\nExamples:\n  gpu-scaler explain --at 18:25\n  gpu-scaler explain --at 2026-11-27T18:25:42Z --window 5m\n  gpu-scaler explain --cycle 640 --json\n\nTimes are the events' own times (data.at, from the controller's clock).",
    )
    .action(async (o: ExplainOptions) => {
      process.exitCode = await withStore(io, (store) => runExplain(store, io, o));
    });
}
