import type { Command } from 'commander';
import { DEFAULT_POOL } from '../../events/common';
import { poolHeading } from '../explain/pools';
import { POLICY_NAMES } from '../policies/index';
import { policyMath } from '../policies/render';
import type { EventStore, StoredEvent } from '../store/event-store';
import { decisionsBetween, workerLivesBefore } from '../store/queries';
import { recordedCycleList, recordedParking, recordedWorkers } from '../what-if/record';
import {
  ASSUMED_STARTS,
  checkChanges,
  PARKING_KEYS,
  parseSetPairs,
  type RecordedCycle,
  settingsFor,
  type WhatIfChanges,
  type WhatIfResult,
  whatIf,
} from '../what-if/replay';
import { CliError, type CliIo, EXIT, withStore } from './context';
import {
  jsonOption,
  nowOption,
  parseNow,
  parseSince,
  parseUntil,
  poolOption,
  sinceOption,
  untilOption,
  utcOption,
} from './flags';
import { helpExamples, plainTable } from './output';
import { clockTime } from './time';

export interface WhatIfOptions {
  since: string;
  until?: string;
  set: string[];
  policy?: string;
  json?: boolean;
  utc?: boolean;
  now?: string;
  /** `--pool`: the pools replayed (default: every pool that decided in the window). */
  pool?: string[];
}

/** Whether a stored event is pool `pool`'s (an event older than pools reads as pool default's). */
const ofPool = (e: StoredEvent, pool: string): boolean => (e.data.pool ?? DEFAULT_POOL) === pool;

/** The pools that decided in these events, default first, then by name. */
function poolsDeciding(events: readonly StoredEvent[]): string[] {
  const pools = new Set<string>();
  for (const e of events) if (e.type === 'ScalingDecided') pools.add(e.data.pool ?? DEFAULT_POOL);
  return [...pools].sort((a, b) => (a === DEFAULT_POOL ? -1 : b === DEFAULT_POOL ? 1 : a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Reads the window (read-only), replays it through the changed policy, prints the differences.
 * Each pool is replayed on its own record (its decisions, its observations, its workers): --pool
 * names the pools; without it every pool that decided in the window, each under its heading when
 * there are several (a pool's changes do not move another's record: the global budget's sharing is
 * the record's).
 */
export async function runWhatIf(store: EventStore, io: CliIo, o: WhatIfOptions): Promise<number> {
  const now = parseNow(o.now, o.utc) ?? new Date();
  const since = parseSince(o.since, { utc: o.utc, now });
  // --until as in events and replay: a time, or a global position (the window then ends there)
  const end = o.until !== undefined ? parseUntil(o.until, { utc: o.utc, now, allowAgo: true }) : null;
  const until = end?.kind === 'time' ? end.time : now;
  const upTo = end?.kind === 'position' ? end.position : Number.POSITIVE_INFINITY;
  if (until.getTime() <= since.getTime()) {
    throw new CliError(`--until ${until.toISOString()} is not after --since ${since.toISOString()}`, EXIT.usage);
  }
  let set: Record<string, string>;
  try {
    set = parseSetPairs(o.set);
    if (o.policy !== undefined && !(POLICY_NAMES as readonly string[]).includes(o.policy)) {
      throw new Error(`--policy ${o.policy}: unknown policy; expected one of ${POLICY_NAMES.join(', ')}`);
    }
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.usage);
  }
  const changes = { policy: o.policy, set };
  const events = (await decisionsBetween(store, since.toISOString(), until.toISOString())).filter(
    (e) => e.globalPosition <= upTo,
  );
  const deciding = poolsDeciding(events);
  const asked = o.pool ?? [];
  const window = `between ${since.toISOString()} and ${until.toISOString()}`;
  if (deciding.length === 0) {
    throw new CliError(`no recorded decision ${window}: nothing to replay`, EXIT.empty);
  }
  const missing = asked.find((p) => !deciding.includes(p));
  if (missing !== undefined) {
    throw new CliError(
      `no recorded decision of pool ${missing} ${window}: nothing to replay; the pools that decided in it are ${deciding.join(', ')}`,
      EXIT.empty,
    );
  }
  const pools = asked.length ? deciding.filter((p) => asked.includes(p)) : deciding;
  // the record's workers: the model's spawns take their start-up times, the first cycle their fleet
  // and parking's: its starts from parked, PARKED_MAX and PARKED_MAX_AGE_SEC as applied
  const lives = (await workerLivesBefore(store, until.toISOString())).filter((e) => e.globalPosition <= upTo);
  const results: { pool: string; result: WhatIfResult }[] = [];
  for (const pool of pools) {
    const cycles = recordedCycleList(events.filter((e) => ofPool(e, pool)));
    if (cycles.length === 0) {
      // only the task source's fallback decided: nothing a policy could be replayed on
      throw new CliError(
        `no recorded decision of pool ${pool} made on a task count ${window}: nothing to replay`,
        EXIT.empty,
      );
    }
    const history = await lookback(store, cycles, changes, since, pool);
    const own = lives.filter((e) => ofPool(e, pool));
    const result = whatIf(
      cycles,
      history,
      changes,
      (d) => policyMath(d.policy, d.desiredBeforeCaps),
      recordedWorkers(own),
      recordedParking(own),
    );
    results.push({ pool, result });
  }
  const head = { since: since.toISOString(), until: until.toISOString() };
  if (o.json) {
    // one pool: as before pools; several: each pool's result under its name
    const out =
      results.length === 1
        ? { ...head, ...results[0].result }
        : { ...head, pools: results.map((r) => ({ pool: r.pool, ...r.result })) };
    io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return EXIT.ok;
  }
  results.forEach(({ pool, result }, i) => {
    if (results.length > 1) io.stdout.write(`${i ? '\n' : ''}${poolHeading(pool)}\n`);
    io.stdout.write(report(result, since, until, o.utc ?? false, results.length === 1 ? pool : DEFAULT_POOL));
  });
  return EXIT.ok;
}

/** The pool's observations before the window that the policy looks back at (none for a policy without lookback). */
async function lookback(
  store: EventStore,
  cycles: readonly RecordedCycle[],
  changes: WhatIfChanges,
  since: Date,
  pool: string,
): Promise<{ at: string; queued: number; active: number }[]> {
  let lookbackSec = 0;
  try {
    const control = checkChanges(changes.policy ?? cycles[0].decision.policy.name, changes);
    const { policy } = settingsFor(cycles[0].decision, changes, control);
    lookbackSec = policy.policy.lookbackSec(policy.settings);
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.usage);
  }
  if (lookbackSec <= 0) return [];
  const from = new Date(since.getTime() - lookbackSec * 1000).toISOString();
  // the pool's counts as the controller recorded them (decoded: a row no schema reads is left out)
  const events = await decisionsBetween(store, from, cycles[0].at);
  return events.flatMap((e) =>
    e.type === 'TaskCountObserved' && ofPool(e, pool)
      ? [{ at: e.data.at, queued: e.data.queued, active: e.data.active }]
      : [],
  );
}

const side = (s: { decision: string; delta: number; desired: number; current: number }) =>
  `${s.decision === 'MAINTAIN' ? 'MAINTAIN' : `${s.decision} ${s.delta}`} (${s.current} -> desired ${s.desired})`;

function report(r: WhatIfResult, since: Date, until: Date, utc: boolean, pool: string): string {
  const set = Object.entries(r.set)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const head =
    `what-if${pool === DEFAULT_POOL ? '' : ` (pool ${pool})`}: policy ${r.policy}${set ? ` with ${set}` : ''}, ${r.cycles} recorded cycle${r.cycles === 1 ? '' : 's'} ` +
    `from ${since.toISOString()} to ${until.toISOString()}: ${r.differing.length} differ\n\n`;
  const rows = r.differing.map((d) => [
    `#${d.cycle}`,
    clockTime(new Date(d.at), utc),
    `${d.queued}+${d.active}`,
    side(d.recorded),
    side(d.whatIf),
  ]);
  const table = rows.length
    ? `${plainTable(['cycle', 'time', 'tasks', 'recorded', 'what-if'], rows)}\n`
    : 'No cycle differs.\n\n';
  const t = r.totals;
  const diff = (a: number, b: number, digits = 0) => {
    const x = b - a;
    return `${x > 0 ? '+' : ''}${x.toFixed(digits)}`;
  };
  const totals = plainTable(
    ['totals', 'recorded', 'what-if', 'change'],
    [
      [
        'worker-cycles',
        String(t.recorded.workerCycles),
        String(t.whatIf.workerCycles),
        diff(t.recorded.workerCycles, t.whatIf.workerCycles),
      ],
      [
        'GPU-hours',
        t.recorded.gpuHours.toFixed(2),
        t.whatIf.gpuHours.toFixed(2),
        diff(t.recorded.gpuHours, t.whatIf.gpuHours, 2),
      ],
      ['spawns', String(t.recorded.spawns), String(t.whatIf.spawns), diff(t.recorded.spawns, t.whatIf.spawns)],
      [
        'scale-downs',
        String(t.recorded.scaleDowns),
        String(t.whatIf.scaleDowns),
        diff(t.recorded.scaleDowns, t.whatIf.scaleDowns),
      ],
    ],
    { right: [1, 2, 3] },
  );
  return `${head}${table}${totals}${modelText(r)}`;
}

const signedPct = (x: number) => `${x > 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;

/** How far the fleet model can be trusted on this record, in words. */
function modelText(r: WhatIfResult): string {
  const m = r.model;
  const startups = m.startupSec
    ? `start-ups taken from the record's ${m.recordedSpawns} spawn${m.recordedSpawns === 1 ? '' : 's'} (median ${m.startupSec.median} s, max ${m.startupSec.max} s)`
    : 'no recorded spawn in the window: a worker asked for is modelled up the next cycle';
  const changeShare =
    m.recordedGpuHours > 0 ? (r.totals.whatIf.gpuHours - r.totals.recorded.gpuHours) / r.totals.recorded.gpuHours : 0;
  const bound = Math.max(Math.abs(m.error), Math.abs(m.modelOnlyError));
  const verdict =
    r.differing.length === 0
      ? ''
      : parkingOnly(r)
        ? '' // said with parking, below
        : Math.abs(changeShare) <= bound
          ? ` The change in GPU-hours (${signedPct(changeShare)}) is within that error: on this record it tells nothing.`
          : " The task counts are the record's and do not react to the change: a fleet that keeps fewer workers shows" +
            ' its saving without the waits and the later spawns it would cost, so read a saving as an upper bound' +
            ' (`gpu-scaler simulate` on a trace models both).';
  return (
    `\nfleet model: with nothing changed it gives ${m.unchangedGpuHours.toFixed(2)} GPU-hours against the recorded ` +
    `${m.recordedGpuHours.toFixed(2)} (${signedPct(m.error)}; ${m.unchangedDiffering} cycle${m.unchangedDiffering === 1 ? '' : 's'} ` +
    `decide otherwise); ${startups}. Where the fleet differs from the record, the model places tasks on ` +
    `the most recently used workers: alone, that rule gives ${m.modelOnlyGpuHours.toFixed(2)} GPU-hours here ` +
    `(${signedPct(m.modelOnlyError)}).${verdict}${parkingText(r)} Not modelled: the circuit breaker and a lagging reactor.\n`
  );
}

/** Only parking's settings were changed: the fleet keeps what the policy decides, its start-ups change. */
const parkingOnly = (r: WhatIfResult) =>
  Object.keys(r.set).length > 0 && Object.keys(r.set).every((k) => (PARKING_KEYS as readonly string[]).includes(k));

/** Parking as the model ran it (docs/parked-pods.md), in words; nothing when it neither parks nor was recorded parking. */
function parkingText(r: WhatIfResult): string {
  const p = r.parking;
  const s = r.model.starts;
  if (p.max === 0 && p.recorded.parks === 0 && p.recorded.starts + p.recorded.refused === 0) return '';
  const from = (f: 'set' | 'record' | 'default') => (f === 'set' ? 'set' : f === 'record' ? 'as recorded' : 'default');
  const starts = s.assumed
    ? `no start from parked recorded in the window: starts assumed to succeed ${ASSUMED_STARTS.success * 100}% of the time and take ${ASSUMED_STARTS.minSec}-${ASSUMED_STARTS.maxSec} s (simulate's defaults; measure yours with \`gpu-scaler status\`)`
    : `starts from parked taken from the record's ${s.recorded} (${s.refused} refused${s.startupSec ? `; up in median ${s.startupSec.median} s, max ${s.startupSec.max} s` : ''})`;
  const changed = r.set.PARKED_MAX !== undefined || r.set.PARKED_MAX_AGE_SEC !== undefined;
  return (
    ` Parking: PARKED_MAX=${p.max} (${from(p.from.max)}), PARKED_MAX_AGE_SEC=${p.maxAgeSec} (${from(p.from.maxAgeSec)}); ` +
    `${p.whatIf.parks} parks, ${p.whatIf.starts} starts from parked, ${p.whatIf.refused} refused ` +
    `(recorded: ${p.recorded.parks}, ${p.recorded.starts}, ${p.recorded.refused}); ${starts}.` +
    (changed
      ? " The task counts are the record's and do not react to starts made shorter or longer: a change of parking" +
        ' is not estimated well (on simulated runs, turning it on showed 0-2% fewer GPU-hours where simulate measured' +
        ' 12-30%, and turning it off even showed fewer; docs/debugging.md#what-if): take its size from' +
        ' `gpu-scaler simulate --set PARKED_MAX=... --unpark-success ...`.'
      : '')
  );
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerWhatIf(program: Command, io: CliIo): void {
  program
    .command('what-if')
    .description('replay recorded task counts through a policy with changed settings; print where decisions differ')
    .addOption(sinceOption('start of the window: observations at or after').makeOptionMandatory())
    .addOption(untilOption('end of the window (default: now)'))
    .option('--set <KEY=VALUE>', 'a changed setting of the policy or of the caps (repeatable)', collect, [])
    .option('--policy <name>', `run another policy than the recorded one: ${POLICY_NAMES.join(', ')}`)
    .addOption(poolOption("replay this pool's record (default: every pool that decided in the window, each apart)"))
    .addOption(jsonOption('print the differing cycles and the totals as JSON'))
    .addOption(utcOption())
    .addOption(nowOption())
    .addHelpText(
      'after',
      helpExamples(
        [
          ['a longer idle timeout over the last day', 'gpu-scaler what-if --since 1d --set GPU_IDLE_TIMEOUT_SEC=900'],
          [
            'another policy on an afternoon',
            'gpu-scaler what-if --since 13:00 --until 18:00 --policy keda --set KEDA_COOLDOWN_SEC=600',
          ],
          ['parking idle pods instead of deleting them', 'gpu-scaler what-if --since 1d --set PARKED_MAX=5'],
          ['for scripts', 'gpu-scaler what-if --since 6h --set MAX_WORKERS=4 --json'],
        ],
        'It only reads the store (READ_DATABASE_URL first, when set): no projection is written, no provider is asked.',
      ),
    )
    .action(async (o: WhatIfOptions) => {
      const readUrl = io.env.READ_DATABASE_URL?.trim();
      process.exitCode = await withStore(
        io,
        (store) => runWhatIf(store, io, o),
        readUrl ? { databaseUrl: readUrl, migrate: false } : {},
      );
    });
}
