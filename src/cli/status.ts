import type { Command } from 'commander';
import { DEFAULT_POOL } from '../../events/common';
import { HealthChecked } from '../../events/index';
import { PolicyRecord, readLimits } from '../../events/scaling';
import { ALL_PROJECTIONS } from '../../projections/index';
import { secondsBetween } from '../clock';
import { type ConditionState, conditionJson, conditionText, recordedConditions } from '../control/conditions';
import { type Override, readOverrides } from '../control/overrides';
import { cancelText, limitsText, modeText, overrideLine, policyLine } from '../policies/render';
import { shareText } from '../pools/allocate';
import { type ParkedPod, parkedCost, parkedPods, startFactsBetween } from '../projections/parking-queries';
import { ProjectionRunner, projectionLag } from '../projections/runner';
import {
  anomaliesBetween,
  eventRowAt,
  lastDecisionRow,
  lastHealthCheckRow,
  lastHealthSummaryRow,
  poolsInStore,
  workerCountsInStatus,
  workersInStatus,
} from '../projections/status-queries';
import { durationText, type StartFigures, startFigures, startFiguresText } from '../reactor/parking';
import { type PlacementFacts, placedOnText } from '../reactor/placement';
import type { Row } from '../store/db';
import { countAllEvents } from '../store/event-count';
import { lastEvent } from '../store/event-queries';
import type { EventStore } from '../store/event-store';
import { describeTarget, type StoreTarget } from '../store/open';
import { CliError, type CliIo, EXIT, withStore } from './context';
import { jsonOption, nowOption, poolOption, readClock, utcOption, windowOption } from './flags';
import {
  formatAge,
  formatTimestamp,
  helpExamples,
  onBrokenPipe,
  plainTable,
  plural,
  toDate,
  writeJsonValue,
} from './output';
import { parseDuration } from './time';

export interface StatusOptions {
  json: boolean;
  utc: boolean;
  /** "Now" for ages and the anomaly window; default: this machine's clock (see collectStatus). */
  now?: Date;
  /** How far back to list anomalies (ms). */
  windowMs: number;
  windowText: string;
  /** `--pool`: only these pools' workers, decision, health summary and anomalies (absent: every pool's). */
  pools?: string[];
}

export interface StatusDeps {
  withStore?: typeof withStore;
}

const LIVE = ['active', 'spawning', 'terminating'] as const;
const ENDED = ['terminated', 'failed'] as const;
/** With no event for this long, status asks whether the controller runs. */
const STALE_MS = 5 * 60_000;
const MAX_LISTED_WORKERS = 50;
/** Extra catch-up attempts, 200 ms apart, while an open transaction holds the projections back. */
const CATCH_UP_RETRIES = 10;

interface WorkerLine {
  workerId: string;
  podId: string | null;
  status: string;
  provider: string | null;
  requestedAt: Date | null;
  /** When it entered its current status. */
  statusSince: Date | null;
  ageSec: number | null;
  inStatusSec: number | null;
  /** GPUs it takes (null: recorded before the count was). */
  gpus: number | null;
  /** USD per hour it was placed at (null: unknown). */
  hourlyCostUsd: number | null;
  /** What it has cost so far: its price x the time since the provider placed it (spawned_at); null: unknown. */
  spentUsd: number | null;
  /** Where the provider placed it (GPU type, data center, node); null fields: not recorded. */
  placement: PlacementFacts;
}

/** What status shows of one pool (or of the pools in view together). */
interface PoolView {
  fleet: Record<string, { count: number; oldestSec: number | null }>;
  ended: Record<string, number>;
  workers: WorkerLine[];
  /** The live fleet's GPUs and burn rate (USD per hour of the workers whose price is known). */
  burn: { gpus: number; usdPerHour: number; unknownPrices: number };
  lastDecision: Row | null;
  /** The last decision's share of the global budget in words (shareText); null: no global cap. */
  share: string | null;
  lastHealthSummary: Row | null;
  lastHealthCheck: { cycle: number; at: Date; status: string; problems: string[] } | null;
  anomalies: { window: string; since: Date; items: Row[] };
  /** The conditions as recorded (the last change of each). */
  conditions: ConditionState[];
}

interface StatusReport extends PoolView {
  store: string;
  now: Date;
  /** Where `now` came from: this machine's clock, --now, or the last event (when it is later than the clock). */
  nowFrom: 'clock' | '--now' | 'last event';
  events: { count: number; last: { position: number; type: string; streamId: string; at: Date } | null };
  projectionsApplied: number;
  /** Committed events the tables still lack (held back by a transaction still open). */
  projectionsBehind: number;
  /** The operators' overrides in force (pause, drain, set). */
  overrides: Override[];
  /** Parked pods (docs/parked-pods.md), their disk cost, and the starts measured in the window. */
  parking: { pods: ParkedPod[]; cost: ReturnType<typeof parkedCost>; starts: StartFigures };
  /** Every pool the store has (poolsInStore). */
  storePools: string[];
  /** The pool in view when it is one of several in the store (`--pool video`); else null. */
  pool: string | null;
  /** Each pool in view, when there is more than one (a store of several pools without --pool); else null. */
  pools: (PoolView & { pool: string })[] | null;
}

/** `Parked: 3 pods (oldest 2.5 h), disk 0.06 USD/h` and the start figures; none when parking never ran. */
function parkingLines(p: StatusReport['parking'], now: Date, windowText: string): string[] {
  if (p.pods.length === 0 && p.starts.unparked + p.starts.refused === 0) return [];
  const oldest = p.pods.reduce<number | null>((m, x) => {
    const age = x.parkedAt ? (now.getTime() - Date.parse(x.parkedAt)) / 1000 : null;
    return age === null ? m : Math.max(m ?? 0, age);
  }, null);
  const unknown = p.cost.unknownPrices
    ? ` (${plural(p.cost.unknownPrices, 'pod')} at an unknown price not counted)`
    : '';
  return [
    `Parked: ${plural(p.pods.length, 'pod')}${oldest === null ? '' : ` (oldest ${durationText(oldest)})`}, disk ${p.cost.usdPerHour.toFixed(2)} USD/h${unknown}; no GPU, in no cap`,
    `Starts (last ${windowText}): ${startFiguresText(p.starts)}`,
  ];
}

/**
 * A worker's spend: its hourly price x its billed time, from when the provider placed the pod
 * (spawned_at) to its end or `until`. Before the pod is placed nothing is billed.
 */
function spentUsd(hourlyCostUsd: number, spawnedAt: Date | null, until: Date): number {
  if (!spawnedAt) return 0;
  return (hourlyCostUsd * Math.max(0, until.getTime() - spawnedAt.getTime())) / 3_600_000;
}

/** `4 GPUs, burning 2.07 USD/h` (and how many workers' prices are unknown). */
function burnLine(b: StatusReport['burn']): string {
  const unknown = b.unknownPrices ? ` (${plural(b.unknownPrices, 'worker')} at an unknown price not counted)` : '';
  return `${plural(b.gpus, 'GPU')}, burning ${b.usdPerHour.toFixed(2)} USD/h${unknown}`;
}

/** Whole seconds since `from`, or null when there is no such time. */
const secondsSince = (from: Date | null, to: Date) => (from ? secondsBetween(from, to) : null);

/** The last health check's facts, read through the event's own schema. */
function healthCheckOf(e: { data: unknown }): PoolView['lastHealthCheck'] {
  const d = HealthChecked.schema.parse(e.data);
  return { cycle: d.cycle, at: new Date(d.at), status: d.status, problems: d.problems };
}

/**
 * The pools `--pool` names, each one the store has; a name it has not is an error naming those it
 * has. A store with no pool rows yet is one pool, `default`, as every deployment before pools.
 */
function poolsInView(asked: readonly string[] | undefined, inStore: readonly string[]): string[] {
  const known = inStore.length ? inStore : [DEFAULT_POOL];
  if (!asked?.length) return [...known];
  const unknown = asked.filter((p) => !known.includes(p));
  if (unknown.length) {
    throw new CliError(
      `no pool ${unknown.join(', ')} in the store: its ${known.length === 1 ? 'pool is' : 'pools are'} ${known.join(', ')} (gpu-scaler status --pool <pool>)`,
      EXIT.empty,
    );
  }
  return [...new Set(asked)];
}

/** The last decision's share of the global budget, in shareText's words; null without a global cap. */
async function shareOf(store: EventStore, decision: Row | null): Promise<string | null> {
  if (!decision) return null;
  const row = await eventRowAt(store.db, Number(decision.global_position));
  const e = row ? store.tryDecode(row) : null;
  if (e?.type !== 'ScalingDecided' || !e.data.allocation) return null;
  return shareText(e.data.allocation, e.data.pool);
}

/** One pool's view (or, with `pools` undefined, every pool's together) at `now`. */
async function collectPoolView(
  store: EventStore,
  now: Date,
  window: { since: Date; text: string },
  pools: string[] | undefined,
): Promise<PoolView> {
  const db = store.db;
  const ended: PoolView['ended'] = { terminated: 0, failed: 0 };
  for (const c of await workerCountsInStatus(db, ENDED, pools)) ended[c.status] = c.n;

  const workerRows = await workersInStatus(db, LIVE, pools);
  const workers = workerRows.map((w): WorkerLine => {
    const price = w.hourly_cost_usd === null ? null : Number(w.hourly_cost_usd);
    const requestedAt = toDate(w.requested_at);
    const statusSince = toDate(w.since);
    return {
      workerId: w.worker_id,
      podId: w.pod_id,
      status: w.status,
      provider: w.provider,
      requestedAt,
      statusSince,
      ageSec: secondsSince(requestedAt, now),
      inStatusSec: secondsSince(statusSince, now),
      gpus: w.gpu_count === null ? null : Number(w.gpu_count),
      hourlyCostUsd: price,
      spentUsd: price === null ? null : spentUsd(price, toDate(w.spawned_at), now),
      placement: { gpuType: w.gpu_type, dataCenter: w.data_center, node: w.node },
    };
  });
  // The live fleet from its rows (a few), so no query reads the ended workers' rows.
  const fleet: PoolView['fleet'] = {};
  for (const w of workers) {
    const f = fleet[w.status] ?? { count: 0, oldestSec: null };
    f.count += 1;
    if (w.inStatusSec !== null)
      f.oldestSec = f.oldestSec === null ? w.inStatusSec : Math.max(f.oldestSec, w.inStatusSec);
    fleet[w.status] = f;
  }
  const burn = {
    gpus: workers.reduce((n, w) => n + (w.gpus ?? 1), 0),
    usdPerHour: workers.reduce((n, w) => n + (w.hourlyCostUsd ?? 0), 0),
    unknownPrices: workers.filter((w) => w.hourlyCostUsd === null).length,
  };

  const lastDecision = await lastDecisionRow(db, pools);
  const checkRow = await lastHealthCheckRow(db, pools);
  const checked = checkRow ? store.tryDecode(checkRow) : null; // null: unreadable, quarantined
  return {
    fleet,
    ended,
    workers,
    burn,
    lastDecision,
    share: await shareOf(store, lastDecision),
    lastHealthSummary: await lastHealthSummaryRow(db, pools),
    lastHealthCheck: checked ? healthCheckOf(checked) : null,
    anomalies: {
      window: window.text,
      since: window.since,
      items: await anomaliesBetween(db, window.since, now, pools),
    },
    // a pool's own conditions; every pool's together read as pool default's (as before pools)
    conditions: await recordedConditions(store, pools?.length === 1 ? pools[0] : undefined),
  };
}

/**
 * Brings the projections up to date, then reads the fleet, the last decision and health summary,
 * and the anomalies of the window before `now`, of every pool in view (grouped by pool when the
 * store has several and --pool names none or more than one). Without opts.now, now is this machine's
 * clock, or the last event's time when that is later (a store written with a fake or skewed clock).
 */
async function collectStatus(
  store: EventStore,
  target: StoreTarget,
  opts: { now?: Date; windowMs: number; windowText: string; pools?: string[] },
): Promise<StatusReport> {
  const runner = new ProjectionRunner(store, ALL_PROJECTIONS);
  let projectionsApplied = await runner.catchUp();
  // Catch-up reads stop at the oldest open transaction (events commit in order): if one holds the
  // tables back, give it a moment, then say so.
  let projectionsBehind = await projectionLag(store, ALL_PROJECTIONS);
  for (let i = 0; projectionsBehind > 0 && i < CATCH_UP_RETRIES; i++) {
    await new Promise((r) => setTimeout(r, 200));
    projectionsApplied += await runner.catchUp();
    projectionsBehind = await projectionLag(store, ALL_PROJECTIONS);
  }
  const db = store.db;
  const storePools = await poolsInStore(db);
  const inView = poolsInView(opts.pools, storePools);
  const pools = opts.pools?.length ? inView : undefined;

  const count = await countAllEvents(db);
  const newest = await lastEvent(store);
  const last = newest
    ? {
        position: newest.position,
        type: newest.type,
        streamId: newest.streamId,
        at: toDate(newest.time) ?? new Date(0),
      }
    : null;

  let now = opts.now ?? new Date();
  let nowFrom: StatusReport['nowFrom'] = opts.now ? '--now' : 'clock';
  if (!opts.now && last && last.at.getTime() > now.getTime() + 60_000) {
    now = last.at;
    nowFrom = 'last event';
  }

  const since = new Date(now.getTime() - opts.windowMs);
  const window = { since, text: opts.windowText };
  const parked = await parkedPods(db);
  const parking = {
    pods: parked,
    cost: parkedCost(parked),
    starts: startFigures(await startFactsBetween(db, since, new Date(now.getTime() + 1))),
  };
  const several = inView.length > 1;
  const perPool: StatusReport['pools'] = several ? [] : null;
  // every pool's view side by side (over the store's connections): one after the other, 100 pools'
  // round trips alone took most of a second
  const views = await Promise.all((several ? inView : []).map((pool) => collectPoolView(store, now, window, [pool])));
  for (const [i, pool] of (several ? inView : []).entries()) perPool?.push({ pool, ...views[i] });

  return {
    store: describeTarget(target),
    now,
    nowFrom,
    events: { count, last },
    projectionsApplied,
    projectionsBehind,
    ...(await collectPoolView(store, now, window, pools)),
    overrides: (await readOverrides(store, now)).inForce,
    parking,
    storePools,
    pool: !several && storePools.length > 1 ? inView[0] : null,
    pools: perPool,
  };
}

// ---------------------------------------------------------------------------------------------
// Human output

/** "active 3 (oldest 12m), spawning 1 (45s)" */
function fleetLine(fleet: StatusReport['fleet']): string {
  const parts = [...LIVE, ...Object.keys(fleet).filter((s) => !(LIVE as readonly string[]).includes(s))]
    .filter((s) => fleet[s]?.count)
    .map((s) => {
      const { count, oldestSec } = fleet[s];
      if (oldestSec === null) return `${s} ${count}`;
      const age = formatAge(oldestSec * 1000);
      return `${s} ${count} (${count > 1 ? `oldest ${age}` : age})`;
    });
  return parts.length ? parts.join(', ') : 'no live workers';
}

const num = (v: unknown) => (v === null || v === undefined ? '?' : String(v));

/** The last decision with its math, one fact a line. */
export function decisionLines(d: Row, now: Date, utc: boolean): string[] {
  const at = toDate(d.decided_at);
  const policy = PolicyRecord.safeParse(d.policy);
  const limits = readLimits(d.limits ?? []);
  const reasons = (d.reasons ?? []) as string[];
  const terminate = (d.terminate ?? []) as { workerId: string; reason: string }[];
  const timedOut = (d.timed_out ?? []) as { workerId: string; reason: string }[];
  const lines = [
    `Last decision: cycle ${d.cycle}${at ? ` at ${formatTimestamp(at, utc)} (${formatAge(now.getTime() - at.getTime())} ago)` : ''}`,
    `  tasks     queued ${num(d.queued)} + active ${num(d.active)} = total ${num(d.total)}`,
    `  current   active ${num(d.current_active)} + spawning ${num(d.current_spawning)} = ${plural(Number(d.current_total), 'worker')}` +
      ` (busy ${num(d.busy)}, idle ${num(d.idle)})`,
    `  policy    ${
      policy.success
        ? policyLine(policy.data, Number(d.desired_before_caps))
        : `desired ${num(d.desired_before_caps)} (its terms are not in the table yet: run gpu-scaler replay)`
    }`,
    `  gpus      ${d.current_gpus == null ? 'not recorded' : plural(Number(d.current_gpus), 'GPU')} live, ${num(
      d.gpus_per_worker,
    )} per new worker${d.burn_usd_per_hour == null ? '' : `; burn ${Number(d.burn_usd_per_hour).toFixed(2)} USD/h`}${
      d.quote_usd_per_hour == null ? '' : `; quote ${Number(d.quote_usd_per_hour).toFixed(2)} USD/h a worker`
    }`,
    `  limits    ${limits ? limitsText(limits) : 'not readable in the table (run gpu-scaler replay)'}`,
    `  decision  ${d.decision}${Number(d.delta) ? ` by ${d.delta}` : ''}: desired ${num(d.desired)}, current ${num(
      d.current_total,
    )}${d.capped_by ? ` (capped by ${d.capped_by})` : ''}`,
  ];
  reasons.forEach((r, i) => {
    lines.push(`  ${i === 0 ? 'reasons ' : '        '}  ${r}`);
  });
  for (const t of terminate) lines.push(`  terminate ${t.workerId}: ${t.reason}`);
  for (const t of timedOut) lines.push(`  timed out ${t.workerId}: ${t.reason}`);
  const cancel = (d.cancel ?? []) as { workerId: string; reason: string }[];
  if (cancel.length) lines.push(`  cancel    ${cancelText(cancel)}`);
  const mode = modeText({ mode: typeof d.mode === 'string' ? d.mode : undefined });
  if (mode) lines.splice(1, 0, `  mode      ${mode}`);
  return lines;
}

function healthLines(r: PoolView, now: Date, utc: boolean): string[] {
  const lines: string[] = [];
  const h = r.lastHealthSummary;
  if (h) {
    const at = toDate(h.recorded_at);
    const byStatus = Object.entries((h.workers_by_status ?? {}) as Record<string, number>)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    const kinds = Object.entries((h.anomaly_kinds ?? {}) as Record<string, number>)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    const tasks = h.last_total === null ? 'unknown' : `${h.last_queued} + ${h.last_active} = ${h.last_total}`;
    lines.push(
      `Health summary: cycle ${h.cycle}${at ? ` at ${formatTimestamp(at, utc)} (${formatAge(now.getTime() - at.getTime())} ago)` : ''}`,
      `  database logging  ${h.db_logging_healthy ? 'healthy' : 'FAILING'}`,
      `  last task count   ${tasks}`,
      `  workers           ${num(h.last_worker_count)}${byStatus ? ` (${byStatus})` : ''}`,
      `  anomalies         ${num(h.anomalies_since_last)} since the previous summary${kinds ? ` (${kinds})` : ''}`,
    );
  } else {
    lines.push('Health summary: none recorded yet (one is written every 20 cycles)');
  }
  const c = r.lastHealthCheck;
  if (c) {
    lines.push(
      `  last check        cycle ${c.cycle} at ${formatTimestamp(c.at, utc)}: ${c.status}` +
        `${c.problems.length ? ` (${c.problems.join('; ')})` : ''}`,
    );
  }
  return lines;
}

/** The live workers' table (at most MAX_LISTED_WORKERS), or nothing without live workers. */
function workerTable(workers: readonly WorkerLine[], pool: string | null): string[] {
  if (!workers.length) return [];
  const shown = workers.slice(0, MAX_LISTED_WORKERS);
  const out = [
    '', // the table is the fleet's, not the last list's above it
    plainTable(
      ['worker', 'pod', 'status', 'in status', 'age', 'provider', 'gpus', 'usd/h', 'spent usd', 'placed on'],
      shown.map((w) => [
        w.workerId,
        w.podId ?? '-',
        w.status,
        w.inStatusSec === null ? '-' : formatAge(w.inStatusSec * 1000),
        w.ageSec === null ? '-' : formatAge(w.ageSec * 1000),
        w.provider ?? '-',
        w.gpus === null ? '?' : String(w.gpus),
        w.hourlyCostUsd === null ? '?' : w.hourlyCostUsd.toFixed(2),
        w.spentUsd === null ? '?' : w.spentUsd.toFixed(2),
        placedOnText(w.placement),
      ]),
      { indent: '  ' },
    ).trimEnd(),
  ];
  if (workers.length > shown.length) {
    const ofPool = pool === null ? '' : ` and pool = '${pool}'`;
    out.push(
      `  … and ${workers.length - shown.length} more: gpu-scaler sql "select * from workers where status in ('active','spawning','terminating')${ofPool}"`,
    );
  }
  return out;
}

/** The last decision (with its share of the global budget), the health summary and the anomalies. */
function recordLines(v: PoolView, now: Date, utc: boolean): string[] {
  const out: string[] = [''];
  if (v.lastDecision) out.push(...decisionLines(v.lastDecision, now, utc));
  else out.push('Last decision: none recorded yet');
  if (v.share) out.push(`  share     ${v.share}`);

  out.push('', ...healthLines(v, now, utc));

  const items = v.anomalies.items;
  out.push(
    '',
    `Anomalies in the last ${v.anomalies.window} (since ${formatTimestamp(v.anomalies.since, utc)}): ${items.length ? items.length : 'none'}`,
  );
  if (items.length) {
    out.push(
      plainTable(
        ['time', 'cycle', 'kind', 'message'],
        items.map((a) => {
          const at = toDate(a.detected_at);
          return [at ? formatTimestamp(at, utc) : '-', String(a.cycle), String(a.kind), String(a.message)];
        }),
        { indent: '  ', right: [1] },
      ).trimEnd(),
    );
    out.push(`  details: gpu-scaler events --type AnomalyDetected --since ${v.anomalies.since.toISOString()}`);
  }
  return out;
}

const fleetLines = (v: PoolView) => [
  `Fleet: ${fleetLine(v.fleet)}; ended: terminated ${v.ended.terminated ?? 0}, failed ${v.ended.failed ?? 0}`,
  `Burn rate: ${burnLine(v.burn)}`,
];

const conditionLines = (v: PoolView, now: Date) =>
  v.conditions.length ? ['Conditions:', ...v.conditions.map((c) => `  ${conditionText(c, now)}`)] : [];

const overrideLines = (r: StatusReport) =>
  r.overrides.length
    ? ['Overrides in force (gpu-scaler overrides):', ...r.overrides.map((o) => `  ${overrideLine(o)}`)]
    : [];

function renderStatus(r: StatusReport, utc: boolean): string {
  const now = r.now;
  const out: string[] = [];
  const nowNote =
    r.nowFrom === '--now'
      ? ' (--now)'
      : r.nowFrom === 'last event'
        ? " (the last event's time: it is later than this machine's clock)"
        : '';
  out.push(`Store: ${r.store}`);
  out.push(`As of: ${formatTimestamp(now, utc)}${nowNote}`);
  if (r.events.last && r.events.last.at.getTime() > now.getTime() + 1000) {
    out.push(
      `  note: the store has events after that time (up to #${r.events.last.position} at ${formatTimestamp(r.events.last.at, utc)}); ` +
        'this shows the latest state, with ages counted from --now',
    );
  }
  if (!r.events.last) {
    out.push('', 'The store has no events yet: start the controller (gpu-scaler start) or try gpu-scaler demo.');
    return `${out.join('\n')}\n`;
  }
  const last = r.events.last;
  const quiet = now.getTime() - last.at.getTime();
  out.push(
    `Events: ${r.events.count}, the last #${last.position} ${last.type} at ${formatTimestamp(last.at, utc)} (${formatAge(quiet)} ago)`,
  );
  if (r.projectionsBehind > 0) {
    out.push(
      `  note: the tables below lack the newest ${plural(r.projectionsBehind, 'event')}: a transaction still open ` +
        'holds them back (events are applied in commit order); run status again in a moment',
    );
  }
  if (quiet > STALE_MS) {
    out.push(`  nothing recorded for ${formatAge(quiet)}: is the controller running? (gpu-scaler start)`);
  }

  if (r.pools) {
    // several pools: what is the store's first, then a heading per pool with its own
    out.push(
      `Pools: ${r.pools.map((p) => p.pool).join(', ')}${r.pools.length < r.storePools.length ? ` (of ${r.storePools.join(', ')})` : ''}`,
    );
    const shared = [...parkingLines(r.parking, now, r.anomalies.window), ...overrideLines(r)];
    if (shared.length) out.push('', ...shared);
    for (const p of r.pools) {
      out.push(
        '',
        `== Pool ${p.pool} ==`,
        ...fleetLines(p),
        ...conditionLines(p, now),
        ...workerTable(p.workers, p.pool),
        ...recordLines(p, now, utc),
      );
    }
    return `${out.join('\n')}\n`;
  }

  out.push('');
  if (r.pool !== null) out.push(`Pool: ${r.pool} (the store's pools: ${r.storePools.join(', ')})`);
  out.push(
    ...fleetLines(r),
    ...parkingLines(r.parking, now, r.anomalies.window),
    ...conditionLines(r, now),
    ...overrideLines(r),
    ...workerTable(r.workers, r.pool),
    ...recordLines(r, now, utc),
  );
  return `${out.join('\n')}\n`;
}

/** A pool's part of the JSON (the whole view's, without --pool, as before pools). */
function poolJson(v: PoolView, now: Date): Record<string, unknown> {
  return {
    fleet: v.fleet,
    ended: v.ended,
    workers: v.workers,
    burn: v.burn,
    lastDecision: v.lastDecision,
    share: v.share,
    lastHealthSummary: v.lastHealthSummary,
    lastHealthCheck: v.lastHealthCheck,
    anomalies: v.anomalies,
    conditions: v.conditions.map((c) => conditionJson(c, now)),
  };
}

/**
 * The JSON: as before pools for a store of one pool; with several, `storePools`, and `pool` (the one
 * --pool named) or `pools` (each pool in view, its own fleet, decision and the rest); the top-level
 * fleet, decision and the rest stay those of the whole view, as before pools.
 */
function statusJson(r: StatusReport): Record<string, unknown> {
  const { share, ...view } = poolJson(r, r.now);
  return {
    store: r.store,
    now: r.now.toISOString(),
    nowFrom: r.nowFrom,
    events: r.events,
    projectionsApplied: r.projectionsApplied,
    projectionsBehind: r.projectionsBehind,
    fleet: view.fleet,
    ended: view.ended,
    workers: view.workers,
    burn: view.burn,
    parking: r.parking,
    lastDecision: view.lastDecision,
    ...(share === null ? {} : { share }),
    lastHealthSummary: view.lastHealthSummary,
    lastHealthCheck: view.lastHealthCheck,
    anomalies: view.anomalies,
    conditions: view.conditions,
    overrides: r.overrides,
    ...(r.storePools.length > 1 ? { storePools: r.storePools } : {}),
    ...(r.pool === null ? {} : { pool: r.pool }),
    ...(r.pools ? { pools: r.pools.map((p) => ({ pool: p.pool, ...poolJson(p, r.now) })) } : {}),
  };
}

export async function runStatus(store: EventStore, target: StoreTarget, o: StatusOptions, io: CliIo): Promise<void> {
  const report = await collectStatus(store, target, {
    now: o.now,
    windowMs: o.windowMs,
    windowText: o.windowText,
    pools: o.pools,
  });
  onBrokenPipe(io);
  if (o.json) writeJsonValue(io, statusJson(report));
  else io.stdout.write(renderStatus(report, o.utc));
}

export function registerStatus(program: Command, io: CliIo): void {
  defineStatusCommand(program, io);
}

/** Adds `status` to a program; tests pass deps to run it on their own store. */
export function defineStatusCommand(program: Command, io: CliIo, deps: StatusDeps = {}): Command {
  const open = deps.withStore ?? withStore;
  return program
    .command('status')
    .summary('the fleet now, the last decision, health and recent anomalies')
    .description(
      'The fleet now: live workers by status with their ages, the last scaling decision with its math, the last ' +
        'health summary and check, and the anomalies of the last hour. It first brings the projection tables ' +
        '(workers, scaling_decisions, anomalies, health_summaries) up to date with the events.\n\n' +
        "Ages are relative to this machine's clock, or to the last event when that is later (a fake-clock demo store).",
    )
    .addOption(jsonOption('print one JSON object (rows as in the projection tables)'))
    .addOption(utcOption())
    .addOption(windowOption('ending at now, of the anomalies listed', '1h'))
    .addOption(
      poolOption("only this pool's workers, last decision, health summary and anomalies (default: every pool's)"),
    )
    .addOption(nowOption())
    .addHelpText(
      'after',
      helpExamples(
        [
          ['the fleet now', 'gpu-scaler status'],
          ['as JSON, anomalies of the last day', 'gpu-scaler status --json --window 1d'],
        ],
        'Exit status: 0 ok, 1 failure (e.g. the store cannot be opened), 2 bad usage.',
      ),
    )
    .action(async (raw: { json?: boolean; utc?: boolean; window: string; now?: string; pool?: string[] }) => {
      const { utc, now, nowGiven } = readClock(raw);
      const o: StatusOptions = {
        json: raw.json === true,
        utc,
        now: nowGiven ? now : undefined,
        windowMs: parseDuration(raw.window, '--window'),
        windowText: raw.window.trim(),
        pools: raw.pool,
      };
      await open(io, (store, target) => runStatus(store, target, o, io));
    });
}
