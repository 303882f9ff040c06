import { cappedBy } from '../src/policies/render';
import { type ProjectedEvent, type Projection, poolCycleKey } from './projection';

export interface ScalingDecisionRow {
  [k: string]: string | number | boolean | null | object;
  cycle: number;
  decided_at: string;
  queued: number;
  active: number;
  total: number;
  current_active: number;
  current_spawning: number;
  current_total: number;
  busy: number;
  idle: number;
  desired_before_caps: number;
  requested: number;
  desired: number;
  decision: string;
  delta: number;
  capped_by: string | null;
  limits: object;
  terms: object;
  terminate: object;
  timed_out: object;
  reasons: object;
  settings: object;
  /** The policy that decided: { name, settings, terms, combine }. */
  policy: object;
  gpus_per_worker: number;
  current_gpus: number | null;
  burn_usd_per_hour: number | null;
  quote_usd_per_hour: number | null;
  /** MODE the decision was made in: `active`, or `shadow` (nothing done). */
  mode: string;
  /** Spawning workers cancelled as no longer wanted. */
  cancel: object;
  event_id: string;
  global_position: number;
  /** The pool that decided (migrations/0020_pool_columns.sql). */
  pool: string;
  /** The row's key: its pool's cycle, `<pool>:<cycle>` (migrations/0031_pool_cycle_keys.sql). */
  pool_cycle: string;
}

/** One row per cycle that made a decision, with the whole math. */
export const scalingDecisionsProjection: Projection<ScalingDecisionRow> = {
  name: 'scaling_decisions',
  table: 'scaling_decisions',
  key: 'pool_cycle',
  keyType: 'text',
  columns: [
    'pool_cycle',
    'cycle',
    'decided_at',
    'queued',
    'active',
    'total',
    'current_active',
    'current_spawning',
    'current_total',
    'busy',
    'idle',
    'desired_before_caps',
    'requested',
    'desired',
    'decision',
    'delta',
    'capped_by',
    'limits',
    'terms',
    'terminate',
    'timed_out',
    'reasons',
    'settings',
    'policy',
    'gpus_per_worker',
    'current_gpus',
    'burn_usd_per_hour',
    'quote_usd_per_hour',
    'mode',
    'cancel',
    'event_id',
    'global_position',
    'pool',
  ],
  eventTypes: ['ScalingDecided'],
  keyOf: (e: ProjectedEvent) => (e.type === 'ScalingDecided' ? poolCycleKey(e.data.pool, e.data.cycle) : null),
  evolve(row, e) {
    if (e.type !== 'ScalingDecided') return row;
    const d = e.data;
    return {
      pool_cycle: poolCycleKey(d.pool, d.cycle),
      cycle: d.cycle,
      decided_at: d.at,
      queued: d.queued,
      active: d.active,
      total: d.total,
      current_active: d.current.active,
      current_spawning: d.current.spawning,
      current_total: d.current.total,
      busy: d.busy,
      idle: d.idle,
      desired_before_caps: d.desiredBeforeCaps,
      requested: d.requested,
      desired: d.desired,
      decision: d.decision,
      delta: d.delta,
      capped_by: cappedBy(d.limits),
      limits: d.limits,
      // each term's value by name, e.g. {"byTasks": 51}: what SQL over the table reads
      terms: Object.fromEntries((d.policy.terms as { name: string; value: number }[]).map((t) => [t.name, t.value])),
      terminate: d.terminate,
      timed_out: d.timedOut,
      reasons: d.reasons,
      settings: d.settings,
      policy: d.policy,
      gpus_per_worker: d.gpusPerWorker,
      current_gpus: d.currentGpus,
      burn_usd_per_hour: d.burnUsdPerHour,
      quote_usd_per_hour: d.quoteUsdPerHour,
      mode: d.mode,
      cancel: d.cancel,
      event_id: e.eventId,
      global_position: e.globalPosition,
      pool: d.pool,
    };
  },
};
