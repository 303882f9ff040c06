import { type AppliedLimit, PolicyRecord, readLimits } from '../../events/scaling';
import { decisionMath, decisionMathShort, modeText } from '../policies/render';
import type { Sql } from '../store/db';

/** Queries on the projection tables for the dashboard (src/observe/http.ts), one function each. */

/** `and pool = $n` when a pool is asked for (absent: every pool's rows, as before pools). */
const ofPool = (pool: string | undefined, n: number) => (pool === undefined ? '' : ` and pool = $${n}`);
const poolParams = (pool: string | undefined) => (pool === undefined ? [] : [pool]);

export interface DecisionSummary {
  /** The pool that decided. */
  pool: string;
  cycle: number;
  at: string;
  queued: number;
  active: number;
  current: number;
  desired: number;
  decision: string;
  delta: number;
  cappedBy: string | null;
  reasons: string[];
  /** The policy's name. */
  policy: string | null;
  /** The decision's math on one line, rendered here (src/policies/render.ts) for the table: the browser composes none. */
  math: string;
  /** The same in full, each term's formula and each limit's detail (the cell's tooltip). */
  mathFull: string;
  limits: AppliedLimit[];
  /** MODE the decision was made in, and its words when it is shadow (nothing done); null when active. */
  mode: string;
  modeNote: string | null;
}

const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());

/** The last `limit` decisions (of every pool, or of `pool`), newest first, with their math. */
export async function recentDecisions(sql: Sql, limit: number, pool?: string): Promise<DecisionSummary[]> {
  const rows = await sql.query<DecisionRow>(
    `select ${DECISION_COLUMNS} from scaling_decisions where true${ofPool(pool, 2)}
      order by global_position desc limit $1`,
    [limit, ...poolParams(pool)],
  );
  return rows.map(decisionSummary);
}

const DECISION_COLUMNS = `pool, cycle, decided_at, queued, active, current_total, desired, decision, delta, capped_by, reasons,
            desired_before_caps, policy, limits, mode`;

interface DecisionRow {
  pool: string;
  cycle: number;
  decided_at: unknown;
  queued: number;
  active: number;
  current_total: number;
  desired: number;
  decision: string;
  delta: number;
  capped_by: string | null;
  reasons: string[];
  desired_before_caps: number;
  policy: unknown;
  limits: unknown;
  mode: string;
}

function decisionSummary(r: DecisionRow): DecisionSummary {
  return {
    ...rendered(r),
    pool: r.pool,
    cycle: Number(r.cycle),
    at: iso(r.decided_at),
    queued: r.queued,
    active: r.active,
    current: r.current_total,
    desired: r.desired,
    decision: r.decision,
    delta: r.delta,
    cappedBy: r.capped_by,
    reasons: r.reasons,
    mode: r.mode,
    modeNote: modeText(r),
  };
}

/**
 * Each pool's last decision (the all-pools view), in pool order: one backward read of
 * scaling_decisions_position_idx a pool.
 */
export async function lastDecisionOfEachPool(sql: Sql, pools: readonly string[]): Promise<DecisionSummary[]> {
  const out: DecisionSummary[] = [];
  for (const pool of pools) {
    const [row] = await sql.query<DecisionRow>(
      `select ${DECISION_COLUMNS} from scaling_decisions where pool = $1 order by global_position desc limit 1`,
      [pool],
    );
    if (row) out.push(decisionSummary(row));
  }
  return out;
}

/** A row's policy and limits, read as recorded, and its math rendered; a row that does not read says so. */
function rendered(r: {
  desired_before_caps: number;
  policy: unknown;
  limits: unknown;
}): Pick<DecisionSummary, 'policy' | 'math' | 'mathFull' | 'limits'> {
  const policy = PolicyRecord.safeParse(r.policy);
  const limits = readLimits(r.limits);
  if (!policy.success || !limits) {
    const text = `desired ${r.desired_before_caps} (its math is not in the table yet: run gpu-scaler replay)`;
    return { policy: null, math: text, mathFull: text, limits: limits ?? [] };
  }
  const d = { policy: policy.data, desiredBeforeCaps: r.desired_before_caps, limits };
  return { policy: policy.data.name, math: decisionMathShort(d), mathFull: decisionMath(d), limits };
}

/** Column-wise series for the charts: times in epoch seconds, one entry per decision. */
export interface DecisionSeries {
  t: number[];
  queued: number[];
  active: number[];
  desired: number[];
  workersActive: number[];
  workersSpawning: number[];
}

/** Every decision between `from` and `to` (ISO 8601), of every pool or of `pool`, oldest first (at most 50,000). */
export async function decisionSeries(sql: Sql, from: string, to: string, pool?: string): Promise<DecisionSeries> {
  const rows = await sql.query<{
    t: number;
    queued: number;
    active: number;
    desired: number;
    current_active: number;
    current_spawning: number;
  }>(
    `select extract(epoch from decided_at)::float8 as t, queued, active, desired, current_active, current_spawning
       from scaling_decisions where decided_at >= $1::timestamptz and decided_at <= $2::timestamptz${ofPool(pool, 3)}
      order by decided_at, cycle limit 50000`,
    [from, to, ...poolParams(pool)],
  );
  return {
    t: rows.map((r) => Number(r.t)),
    queued: rows.map((r) => r.queued),
    active: rows.map((r) => r.active),
    desired: rows.map((r) => r.desired),
    workersActive: rows.map((r) => r.current_active),
    workersSpawning: rows.map((r) => r.current_spawning),
  };
}

/** The time of the newest decision (of every pool, or of `pool`; null: none yet). */
export async function lastDecisionAt(sql: Sql, pool?: string): Promise<Date | null> {
  const [row] = await sql.query<{ at: unknown }>(
    `select max(decided_at) as at from scaling_decisions where true${ofPool(pool, 1)}`,
    poolParams(pool),
  );
  return row?.at ? new Date(iso(row.at)) : null;
}

export interface AnomalySummary {
  pool: string;
  cycle: number;
  at: string;
  kind: string;
  message: string;
}

/** The last `limit` anomalies (of every pool, or of `pool`), newest first. */
export async function recentAnomalies(sql: Sql, limit: number, pool?: string): Promise<AnomalySummary[]> {
  const rows = await sql.query<{ pool: string; cycle: number; detected_at: unknown; kind: string; message: string }>(
    `select pool, cycle, detected_at, kind, message from anomalies where true${ofPool(pool, 2)}
      order by detected_at desc, global_position desc limit $1`,
    [limit, ...poolParams(pool)],
  );
  return rows.map((r) => ({
    pool: r.pool,
    cycle: Number(r.cycle),
    at: iso(r.detected_at),
    kind: r.kind,
    message: r.message,
  }));
}

export interface HealthSummary {
  cycle: number;
  at: string;
  dbLoggingHealthy: boolean;
  lastQueued: number | null;
  lastActive: number | null;
  lastWorkerCount: number;
  workersByStatus: Record<string, number>;
  anomaliesSinceLast: number;
  anomalyKinds: Record<string, number>;
}

/** The newest health summary (of every pool, or of `pool`), if any. */
export async function lastHealthSummary(sql: Sql, pool?: string): Promise<HealthSummary | null> {
  const [r] = await sql.query<{
    cycle: number;
    recorded_at: unknown;
    db_logging_healthy: boolean;
    last_queued: number | null;
    last_active: number | null;
    last_worker_count: number;
    workers_by_status: Record<string, number>;
    anomalies_since_last: number;
    anomaly_kinds: Record<string, number>;
  }>(
    `select * from health_summaries where true${ofPool(pool, 1)} order by global_position desc limit 1`,
    poolParams(pool),
  );
  if (!r) return null;
  return {
    cycle: Number(r.cycle),
    at: iso(r.recorded_at),
    dbLoggingHealthy: r.db_logging_healthy,
    lastQueued: r.last_queued,
    lastActive: r.last_active,
    lastWorkerCount: r.last_worker_count,
    workersByStatus: r.workers_by_status,
    anomaliesSinceLast: r.anomalies_since_last,
    anomalyKinds: r.anomaly_kinds,
  };
}
