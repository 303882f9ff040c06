import { type Command, Option } from 'commander';
import { type AppEvent, appRegistry } from '../../events/index';
import { EventDecodeError } from '../../events/registry';
import { conditionEventText } from '../control/conditions';
import { describeEvent, operatorCommandText, overrideEndedText } from '../explain/explain';
import { limitsNote, modeTag } from '../policies/render';
import { candidatesText, placementText } from '../reactor/placement';
import {
  countEvents,
  type EventFilter,
  endCheckpoint,
  eventRange,
  findEvents,
  type TimedEventRow,
} from '../store/event-queries';
import type { Checkpoint, EventEnvelope, EventStore, StoredEvent } from '../store/event-store';
import { eventTime } from '../store/event-time';
import type { StoreTarget } from '../store/open';
import { CliError, type CliIo, EXIT, withStore } from './context';
import {
  inPools,
  jsonOption,
  nowOption,
  parseSince,
  parseUntil,
  poolOption,
  readClock,
  sinceOption,
  untilOption,
  utcOption,
  wholeNumber,
} from './flags';
import {
  compactJson,
  formatTimestamp,
  helpExamples,
  onBrokenPipe,
  plural,
  toDate,
  truncate,
  writeJsonLine,
  writeJsonValue,
} from './output';

/** What `events` was asked for, validated. */
export interface EventsQuery {
  types?: string[];
  /** A stream id; `*` matches any characters (worker-*). */
  stream?: string;
  /** `--pool`: only these pools' events (absent: every pool's). */
  pools?: string[];
  since?: Date;
  until?: Date;
  /** `--until N`: up to and including this global position. */
  untilPosition?: number;
  fromPosition?: number;
  limit: number;
}

export interface EventsOptions extends EventsQuery {
  follow: boolean;
  json: boolean;
  utc: boolean;
}

/** Test seams: the store opener, a stop signal for --follow, the poll interval, a hook when caught up. */
export interface EventsDeps {
  withStore?: typeof withStore;
  /** Stops --follow (besides SIGINT). */
  signal?: AbortSignal;
  pollMs?: number;
  /** Called each time --follow has printed everything committed so far and starts waiting. */
  onIdle?: () => void;
}

/** A stored event this build cannot decode: its type and data as stored, and why. */
interface UndecodedEvent {
  type: string;
  data: unknown;
  /** Why this build cannot decode the stored data (shown raw). */
  decodeError: string;
}

/** An event as shown: decoded when possible, with the time the filters use. */
export type ShownEvent = EventEnvelope & {
  /** The event's own time (data.at, the controller's clock), else when it was recorded. */
  time: Date;
} & ((AppEvent & { decodeError?: undefined }) | UndecodedEvent);

export const DEFAULT_LIMIT = 100;
const SUMMARY_WIDTH = 140;
const GENERIC_WIDTH = 100;
const TYPE_WIDTH = Math.max(...appRegistry.types().map((t) => t.length));

/** "ScalingDecided,anomalydetected" -> the known type names (any case); unknown ones are a usage error. */
export function parseTypes(text: string): string[] {
  const known = appRegistry.types();
  const byLower = new Map(known.map((t) => [t.toLowerCase(), t]));
  const out: string[] = [];
  for (const part of text.split(',').map((s) => s.trim())) {
    if (!part) continue;
    const t = byLower.get(part.toLowerCase());
    if (!t) {
      throw new CliError(`--type "${part}" is not an event type; known types: ${known.join(', ')}`, EXIT.usage);
    }
    if (!out.includes(t)) out.push(t);
  }
  if (out.length === 0) throw new CliError(`--type needs an event type; known types: ${known.join(', ')}`, EXIT.usage);
  return out;
}

function decodeRow(store: EventStore, r: TimedEventRow): ShownEvent {
  const time = toDate(r.event_time) ?? toDate(r.recorded_at) ?? new Date(0);
  try {
    return { ...store.decode(r), time };
  } catch (err) {
    return {
      globalPosition: r.global_position,
      streamId: r.stream_id,
      streamVersion: r.stream_version,
      eventId: r.event_id,
      type: r.event_type,
      schemaVersion: r.schema_version,
      data: r.data,
      metadata: r.metadata ?? {},
      txId: r.tx_id,
      recordedAt: toDate(r.recorded_at) ?? new Date(0),
      time,
      decodeError: err instanceof EventDecodeError ? err.reason : (err as Error).message,
    };
  }
}

export interface EventsPage {
  events: ShownEvent[];
  /** How many events match in all (only counted when some were left out). */
  total: number;
  /** 'tail': the newest `limit`; 'head': the first `limit` from --since/--from-position. */
  mode: 'head' | 'tail';
}

/**
 * The matching events, oldest first. Without a lower bound (--since, --from-position) it is the
 * newest `limit` (like tail); with one, the first `limit` from there (to page forward).
 */
export async function queryEvents(
  store: EventStore,
  q: EventsQuery,
  opts: { mode?: 'head' | 'tail'; upTo?: Checkpoint } = {},
): Promise<EventsPage> {
  const mode = opts.mode ?? (q.since || q.fromPosition !== undefined ? 'head' : 'tail');
  if (q.limit <= 0) return { events: [], total: 0, mode };
  const filter: EventFilter = { ...q, upTo: opts.upTo };
  const rows = await findEvents(store, filter, { mode, limit: q.limit + 1 });
  let total = rows.length;
  if (rows.length > q.limit) {
    rows.length = q.limit;
    total = await countEvents(store, filter);
  }
  if (mode === 'tail') rows.reverse();
  return { events: rows.map((r) => decodeRow(store, r)), total, mode };
}

// ---------------------------------------------------------------------------------------------
// One line per event

/** A short, human summary of an event's data. */
export function summarize(
  e: ((AppEvent & { decodeError?: undefined }) | UndecodedEvent) & { streamId?: string },
): string {
  if (e.decodeError !== undefined) {
    return truncate(`(cannot decode: ${e.decodeError}) ${compactJson(e.data)}`, SUMMARY_WIDTH);
  }
  let s = summaryOf(e);
  // The stream of a worker event already names the worker.
  const workerId = 'workerId' in e.data ? e.data.workerId : undefined;
  if (typeof workerId === 'string' && e.streamId === `worker-${workerId}` && s.startsWith(`${workerId} `)) {
    s = s.slice(workerId.length + 1);
  }
  return truncate(s, SUMMARY_WIDTH);
}

function summaryOf(e: AppEvent): string {
  switch (e.type) {
    case 'TaskCountObserved': {
      const d = e.data;
      return `cycle ${d.cycle} queued=${d.queued} active=${d.active} total=${d.total}`;
    }
    case 'TaskCountRejected': {
      const d = e.data;
      return `cycle ${d.cycle} answer from ${d.source} rejected: ${d.reason}`;
    }
    case 'ScalingDecided': {
      const d = e.data;
      let s = `cycle ${d.cycle} ${d.decision}${d.delta ? ` by ${d.delta}` : ''} desired=${d.desired} current=${d.current.total}`;
      s += limitsNote(d.limits);
      if (d.timedOut.length) s += `, ${d.timedOut.length} timed out spawning`;
      if (d.cancel.length) s += `, ${d.cancel.length} spawning cancelled`;
      return s + modeTag(d);
    }
    case 'AnomalyDetected': {
      const d = e.data;
      return `cycle ${d.cycle} ${d.kind}: ${d.message}`;
    }
    case 'ConditionChanged':
      return `cycle ${e.data.cycle} ${conditionEventText(e.data)}`;
    case 'WorkerSpawnRequested': {
      const d = e.data;
      return `${d.workerId} cycle ${d.cycle} spawn ${d.ordinal}/${d.of} via ${d.provider}`;
    }
    case 'WorkerSpawned': {
      const d = e.data;
      const placed = placementText(d.details);
      return `${d.workerId} pod ${d.podId} (${d.ordinal}/${d.of})${d.recovered ? ' recovered after a retry' : ''}${placed ? ` ${placed}` : ''}`;
    }
    case 'WorkerSpawnFailed': {
      const d = e.data;
      return `${d.workerId} (${d.ordinal}/${d.of}) ${d.kind}: ${d.error}${candidatesText(d.details)}`;
    }
    case 'WorkerSpawnUnclear': {
      const d = e.data;
      return `${d.workerId} (${d.ordinal}/${d.of}) create unclear, ${d.step}: ${d.detail}`;
    }
    case 'WorkerActivated': {
      const d = e.data;
      return `${d.workerId} active on pod ${d.podId}`;
    }
    case 'WorkerTerminationRequested': {
      const d = e.data;
      return `${d.workerId}${d.cycle !== null ? ` cycle ${d.cycle}` : ''} ${d.reason}: ${d.detail}`;
    }
    case 'WorkerTerminated': {
      const d = e.data;
      const extra = [
        d.failed ? 'FAILED' : '',
        d.exitCode !== null ? `exit ${d.exitCode}` : '',
        d.gpuSeconds !== null ? `${d.gpuSeconds} GPU-s` : '',
      ].filter(Boolean);
      return `${d.workerId} ${d.reason}${extra.length ? ` (${extra.join(', ')})` : ''}: ${d.detail}`;
    }
    case 'HealthChecked': {
      const d = e.data;
      return `cycle ${d.cycle} ${d.status}${d.problems.length ? `: ${d.problems.join('; ')}` : ''}`;
    }
    case 'HealthSummaryRecorded': {
      const d = e.data;
      const tc = d.lastTaskCount;
      const byStatus = Object.entries(d.workersByStatus)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      return (
        `cycle ${d.cycle} db logging ${d.dbLoggingHealthy ? 'ok' : 'FAILING'}` +
        `, tasks ${tc ? `${tc.queued}+${tc.active}=${tc.total}` : 'unknown'}` +
        `, ${plural(d.lastWorkerCount, 'worker')}${byStatus ? ` (${byStatus})` : ''}` +
        `, ${plural(d.anomaliesSinceLast, 'anomaly', 'anomalies')} since the last summary`
      );
    }
    case 'ActionIntended': {
      const d = e.data;
      return `cycle ${d.cycle} intended (shadow, not done): ${d.action} ${d.workerId} ${d.reason}`;
    }
    case 'FleetObserved': {
      const d = e.data;
      return `cycle ${d.cycle} ${d.provider} lists ${plural(d.pods, 'pod')} (${d.running} running, ${plural(d.gpus, 'GPU')})`;
    }
    case 'WorkerAdopted': {
      const d = e.data;
      return `${d.workerId} adopted pod ${d.podId} (${d.podStatus}) by ${d.by}`;
    }
    case 'OperatorCommandIssued':
      return operatorCommandText(e.data);
    case 'OperatorOverrideEnded':
      return overrideEndedText(e.data);
    default:
      // the rest (reloads, parking, quarantine, orphans) in the words explain uses: one renderer per fact
      return describeEvent(e) ?? truncate(compactJson(e.data), GENERIC_WIDTH);
  }
}

interface LineWidths {
  position: number;
  stream: number;
}

function widthsFor(events: ShownEvent[]): LineWidths {
  return {
    position: Math.max(4, ...events.map((e) => String(e.globalPosition).length)),
    stream: Math.min(32, Math.max(10, ...events.map((e) => e.streamId.length))),
  };
}

/** "  212  2026-11-27 18:25:42  controller  ScalingDecided  cycle 52 SCALE_UP by 4 …" */
export function eventLine(e: ShownEvent, w: LineWidths, utc: boolean): string {
  return [
    String(e.globalPosition).padStart(w.position),
    formatTimestamp(e.time, utc),
    e.streamId.padEnd(w.stream),
    e.type.padEnd(TYPE_WIDTH),
    summarize(e),
  ]
    .join('  ')
    .trimEnd();
}

/** The JSON form of an event: the stored fields, times as ISO. */
export function eventJson(e: ShownEvent): Record<string, unknown> {
  return {
    globalPosition: e.globalPosition,
    time: e.time.toISOString(),
    streamId: e.streamId,
    streamVersion: e.streamVersion,
    type: e.type,
    schemaVersion: e.schemaVersion,
    eventId: e.eventId,
    data: e.data,
    metadata: e.metadata,
    txId: e.txId,
    recordedAt: e.recordedAt.toISOString(),
    ...(e.decodeError ? { decodeError: e.decodeError } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// The command

function describeFilters(o: EventsOptions): string {
  const parts: string[] = [];
  if (o.types) parts.push(`--type ${o.types.join(',')}`);
  if (o.stream !== undefined) parts.push(`--stream ${o.stream}`);
  for (const pool of o.pools ?? []) parts.push(`--pool ${pool}`);
  if (o.since) parts.push(`--since ${formatTimestamp(o.since, o.utc)}`);
  if (o.until) parts.push(`--until ${formatTimestamp(o.until, o.utc)}`);
  if (o.untilPosition !== undefined) parts.push(`--until ${o.untilPosition}`);
  if (o.fromPosition !== undefined) parts.push(`--from-position ${o.fromPosition}`);
  return parts.join(' ');
}

/** Why nothing matched: what the store holds, and what to try. */
async function emptyMessage(store: EventStore, o: EventsOptions): Promise<string> {
  const { count: n, first, last, head } = await eventRange(store);
  if (n === 0) {
    return 'no events: the store is empty. Start the controller (gpu-scaler start) or fill it with gpu-scaler demo.';
  }
  const filters = describeFilters(o);
  const a = toDate(first);
  const b = toDate(last);
  const range = a && b ? ` from ${formatTimestamp(a, o.utc)} to ${formatTimestamp(b, o.utc)}` : '';
  const hints: string[] = [];
  if (o.since || o.until || o.untilPosition !== undefined) hints.push('a wider window (--since/--until)');
  if (o.types || o.stream !== undefined || o.pools) {
    hints.push(o.pools ? 'fewer filters (--type/--stream/--pool)' : 'fewer filters (--type/--stream)');
  }
  if (o.fromPosition !== undefined && o.fromPosition > head) hints.push(`--from-position <= ${head}`);
  return (
    `no events match ${filters || 'the query'}. The store has ${plural(n, 'event')}${range}` +
    ` (positions 1..${head})${hints.length ? `; try ${hints.join(' or ')}` : ''}.`
  );
}

function leftOutMessage(page: EventsPage, o: EventsOptions): string | null {
  const shown = page.events.length;
  if (page.total <= shown) return null;
  const left = page.total - shown;
  if (page.mode === 'tail') {
    return (
      `(showing the newest ${shown} of ${page.total} matching events; ${plural(left, 'older one')} left out: ` +
      `--limit ${page.total} shows them all, --from-position 1 pages from the start)`
    );
  }
  const last = page.events[shown - 1]?.globalPosition ?? 0;
  return (
    `(showing the first ${shown} of ${page.total} matching events; ${left} more after position ${last}: ` +
    `continue with --from-position ${last + 1}${o.limit < page.total ? `, or use --limit ${page.total}` : ''})`
  );
}

/** An event's pool as its data says (every event type has one; null: none). */
const poolOf = (data: unknown): string | null =>
  typeof data === 'object' && data !== null && 'pool' in data && typeof data.pool === 'string' ? data.pool : null;

function matches(e: StoredEvent & { time: Date }, q: EventsQuery, streamRe: RegExp | null): boolean {
  if (q.types && !q.types.includes(e.type)) return false;
  if (q.stream !== undefined && (streamRe ? !streamRe.test(e.streamId) : e.streamId !== q.stream)) return false;
  if (!inPools(q.pools, poolOf(e.data))) return false;
  if (q.since && e.time < q.since) return false;
  if (q.fromPosition !== undefined && e.globalPosition < q.fromPosition) return false;
  return true;
}

/** Runs `events` on an open store; resolves when done (or, with --follow, when stopped). */
export async function runEvents(
  store: EventStore,
  target: StoreTarget,
  o: EventsOptions,
  io: CliIo,
  deps: EventsDeps = {},
): Promise<void> {
  const broken = new AbortController();
  onBrokenPipe(io, () => broken.abort());
  const print = (events: ShownEvent[], w: LineWidths) => {
    if (broken.signal.aborted) return;
    for (const e of events) {
      if (o.json && o.follow) writeJsonLine(io, eventJson(e));
      else if (!o.json) io.stdout.write(`${eventLine(e, w, o.utc)}\n`);
    }
  };

  if (!o.follow) {
    const page = await queryEvents(store, o);
    if (o.json) writeJsonValue(io, page.events.map(eventJson));
    else print(page.events, widthsFor(page.events));
    const note = leftOutMessage(page, o);
    if (note) io.stderr.write(`${note}\n`);
    if (page.events.length === 0) throw new CliError(await emptyMessage(store, o), EXIT.empty);
    return;
  }

  // --follow: the backlog up to a checkpoint, then everything committed after it, exactly once.
  const signal = deps.signal ? AbortSignal.any([deps.signal, broken.signal]) : broken.signal;
  let dirty = false;
  let wakeUp: (() => void) | undefined;
  const onWake = () => {
    dirty = true;
    wakeUp?.();
  };
  store.signals.on('wake', onWake);
  signal.addEventListener('abort', onWake);
  try {
    let cp = await endCheckpoint(store);
    const page = await queryEvents(store, o, { mode: 'tail', upTo: cp });
    const widths = widthsFor(page.events);
    print(page.events, widths);
    const note = leftOutMessage(page, o);
    if (note) io.stderr.write(`${note}\n`);
    if (target.kind !== 'postgres') {
      io.stderr.write(
        'note: an embedded store (PGlite) allows one process at a time, so no other process can add events while ' +
          'this follows; to follow a running controller, share a server: DATABASE_URL=postgres://…\n',
      );
    }
    io.stderr.write(
      `following new events after position ${cp.position}${describeFilters(o) ? ` matching ${describeFilters(o)}` : ''}` +
        ' (Ctrl-C to stop)\n',
    );
    const streamRe =
      o.stream?.includes('*') === true ? new RegExp(`^${o.stream.split('*').map(escapeRegExp).join('.*')}$`) : null;
    const pollMs = deps.pollMs ?? 1000;
    let backoff = 0;
    while (!signal.aborted) {
      dirty = false;
      let batch: { events: StoredEvent[]; checkpoint: Checkpoint };
      try {
        batch = await store.readBatch(cp, 500);
        backoff = 0;
      } catch (err) {
        if (err instanceof EventDecodeError)
          throw new CliError(`${err.message}; is this gpu-scaler build older than the writer?`);
        backoff = Math.min(5000, backoff ? backoff * 2 : 500);
        io.stderr.write(
          `gpu-scaler: reading the store failed (${(err as Error).message}); retrying in ${backoff} ms\n`,
        );
        await sleep(backoff, signal);
        continue;
      }
      if (batch.events.length > 0) {
        const shown = batch.events
          .map((e) => ({ ...e, time: eventTime(e.data, e.recordedAt) }))
          .filter((e) => matches(e, o, streamRe));
        print(shown, widths);
        cp = batch.checkpoint;
        continue;
      }
      if (dirty) continue;
      deps.onIdle?.();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, pollMs);
        function done() {
          clearTimeout(timer);
          wakeUp = undefined;
          resolve();
        }
        wakeUp = done;
        if (dirty || signal.aborted) done();
      });
    }
  } finally {
    store.signals.off('wake', onWake);
    signal.removeEventListener('abort', onWake);
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

interface RawOptions {
  type?: string;
  stream?: string;
  pool?: string[];
  since?: string;
  until?: string;
  fromPosition?: number;
  limit?: number;
  follow?: boolean;
  json?: boolean;
  utc?: boolean;
  now?: string;
  quarantined?: boolean;
}

function quarantinedTypes(raw: RawOptions): string[] {
  if (raw.type !== undefined) {
    throw new CliError('--quarantined lists EventQuarantined records only: leave out --type', EXIT.usage);
  }
  return ['EventQuarantined'];
}

/** Commander's options -> validated EventsOptions (usage errors exit 2). */
export function eventsOptions(raw: RawOptions, clock = new Date()): EventsOptions {
  const { utc, now } = readClock(raw, clock);
  const until = raw.until !== undefined ? parseUntil(raw.until, { allowAgo: true, utc, now }) : undefined;
  const o: EventsOptions = {
    // --quarantined: the records of stored events no schema reads (EventQuarantined), which every reader skips
    types: raw.quarantined ? quarantinedTypes(raw) : raw.type !== undefined ? parseTypes(raw.type) : undefined,
    stream: raw.stream,
    pools: raw.pool,
    since: raw.since !== undefined ? parseSince(raw.since, { utc, now }) : undefined,
    until: until?.kind === 'time' ? until.time : undefined,
    untilPosition: until?.kind === 'position' ? until.position : undefined,
    fromPosition: raw.fromPosition,
    limit: raw.limit ?? DEFAULT_LIMIT,
    follow: raw.follow === true,
    json: raw.json === true,
    utc,
  };
  if (o.since && o.until && o.since > o.until) {
    throw new CliError(
      `--since (${formatTimestamp(o.since, utc)}) is after --until (${formatTimestamp(o.until, utc)}): swap them`,
      EXIT.usage,
    );
  }
  if (o.untilPosition !== undefined && o.fromPosition !== undefined && o.fromPosition > o.untilPosition) {
    throw new CliError(`--from-position ${o.fromPosition} is after --until ${o.untilPosition}: swap them`, EXIT.usage);
  }
  if (o.follow && (o.until || o.untilPosition !== undefined)) {
    throw new CliError('--until and --follow do not go together: --follow waits for new events', EXIT.usage);
  }
  if (o.limit === 0 && !o.follow) {
    throw new CliError('--limit 0 shows nothing; it only makes sense with --follow (no backlog)', EXIT.usage);
  }
  if (o.stream !== undefined && o.stream.trim() === '') throw new CliError('--stream needs a stream id', EXIT.usage);
  return o;
}

export function registerEvents(program: Command, io: CliIo): void {
  defineEventsCommand(program, io);
}

/** Adds `events` to a program; tests pass deps to run it on their own store and stop --follow. */
export function defineEventsCommand(program: Command, io: CliIo, deps: EventsDeps = {}): Command {
  const open = deps.withStore ?? withStore;
  return program
    .command('events')
    .summary('query and tail the event store')
    .description(
      'Query the event store, or tail it with --follow. One line per event: position, time, stream, type and a ' +
        "summary of its data. Times are the event's own time (the controller's clock, data.at), local unless --utc.\n\n" +
        'Without --since/--from-position it shows the newest --limit events; with one, the first --limit from there.',
    )
    .option('--type <types>', 'only these event types, comma-separated (e.g. ScalingDecided,AnomalyDetected)')
    .option('--stream <stream>', 'only this stream: controller, health, worker-<id>; * matches anything (worker-*)')
    .addOption(poolOption("only this pool's events (default: every pool's)"))
    .option(
      '--quarantined',
      'only the stored events put aside as unreadable (EventQuarantined): each names its position and error',
    )
    .addOption(sinceOption('events at or after'))
    .addOption(untilOption('events at or before'))
    .addOption(
      new Option('--from-position <n>', 'events from this global position on').argParser(
        wholeNumber('--from-position', 0),
      ),
    )
    .addOption(
      new Option(
        '--limit <n>',
        `at most this many events (default ${DEFAULT_LIMIT}; with --follow, of the backlog)`,
      ).argParser(wholeNumber('--limit', 0)),
    )
    .option('-f, --follow', 'then print new events as they are committed, until Ctrl-C')
    .addOption(jsonOption('a JSON array of events (with --follow: one JSON object per line)'))
    .addOption(utcOption())
    .addOption(nowOption())
    .addHelpText(
      'after',
      helpExamples(
        [
          [
            'what happened around 18:25 today (local time; add --utc for UTC)',
            'gpu-scaler events --since 18:25 --until 18:27',
          ],
          [
            'decisions and anomalies of the last hour',
            'gpu-scaler events --type ScalingDecided,AnomalyDetected --since 1h',
          ],
          ['the last 20 worker lifecycle events', 'gpu-scaler events --stream "worker-*" --limit 20'],
          ['page forward from a position, as JSON', 'gpu-scaler events --from-position 200 --json'],
          ['tail anomalies as they happen', 'gpu-scaler events -f --type AnomalyDetected'],
        ],
        'Exit status: 0 events shown, 3 nothing matched, 2 bad usage, 1 failure.',
      ),
    )
    .action(async (raw: RawOptions) => {
      const o = eventsOptions(raw);
      if (!o.follow) {
        await open(io, (store, target) => runEvents(store, target, o, io, deps));
        return;
      }
      const stop = new AbortController();
      const onSigint = () => stop.abort();
      process.once('SIGINT', onSigint);
      const signal = deps.signal ? AbortSignal.any([deps.signal, stop.signal]) : stop.signal;
      try {
        await open(io, (store, target) => runEvents(store, target, o, io, { ...deps, signal }), { listen: true });
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
