import type { Command } from 'commander';
import { explain } from '../explain/explain';
import { EVENT_COLUMNS, type EventRow, type EventStore, type StoredEvent } from '../store/event-store';
import { EVENT_CYCLE_SQL, EVENT_TIME_SQL } from '../store/event-time';
import { CliError, type CliIo, EXIT, withStore, writeJson } from './context';
import { toDate } from './output';
import { clockTime, DURATION_FORMS, NOW_HELP, parseDuration, parseNow, parseTime } from './time';

async function query(store: EventStore, where: string, params: unknown[]): Promise<StoredEvent[]> {
  const rows = await store.db.query<EventRow>(
    `select ${EVENT_COLUMNS} from events where ${where} order by global_position limit 5000`,
    params,
  );
  return rows.map((r) => store.decode(r));
}

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
    events = await query(store, `stream_id = 'controller' and ${EVENT_CYCLE_SQL} = $1`, [focusCycle]);
    if (events.length === 0) {
      const [{ max }] = await store.db.query<{ max: number | null }>(
        `select max(${EVENT_CYCLE_SQL}) as max from events where stream_id = 'controller'`,
      );
      throw new CliError(
        `no cycle #${focusCycle} in the store${max ? ` (cycles run from 1 to ${max})` : ' (it has no cycles yet)'}`,
        EXIT.empty,
      );
    }
    // the cycle before (for "jumped from"), and everything caused by its decision
    const from = events[0].data.at;
    const to = new Date(Date.parse(from) + windowMs).toISOString();
    const ids = events.filter((e) => e.type === 'ScalingDecided').map((e) => e.eventId);
    const caused = ids.length ? await query(store, `metadata->>'causationId' = any($1::text[])`, [ids]) : [];
    const same = await query(
      store,
      `${EVENT_TIME_SQL} >= $1::timestamptz and ${EVENT_TIME_SQL} <= $2::timestamptz and stream_id <> 'controller' and metadata->>'cycle' = $3::text`,
      [from, to, String(focusCycle)],
    );
    events = dedupe([...events, ...caused, ...same]);
  } else {
    const at = focusAt as Date;
    const from = new Date(at.getTime() - windowMs / 2).toISOString();
    const to = new Date(at.getTime() + windowMs / 2).toISOString();
    events = await query(store, `${EVENT_TIME_SQL} >= $1::timestamptz and ${EVENT_TIME_SQL} <= $2::timestamptz`, [
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
    if (ids.length)
      events = dedupe([...events, ...(await query(store, `metadata->>'causationId' = any($1::text[])`, [ids]))]);
  }
  const firstCycle = Math.min(
    ...events.map((e) => ('cycle' in e.data ? e.data.cycle : null) ?? Number.POSITIVE_INFINITY),
  );
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

function dedupe(events: StoredEvent[]): StoredEvent[] {
  const seen = new Map(events.map((e) => [e.globalPosition, e]));
  return [...seen.values()].sort((a, b) => a.globalPosition - b.globalPosition);
}

async function totalBefore(store: EventStore, cycle: number): Promise<number | null> {
  const rows = await store.db.query<{ total: number }>(
    `select (data->>'total')::int as total from events
      where stream_id = 'controller' and event_type = 'TaskCountObserved' and ${EVENT_CYCLE_SQL} < $1
      order by ${EVENT_CYCLE_SQL} desc, stream_version desc limit 1`,
    [cycle],
  );
  return rows[0]?.total ?? null;
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
