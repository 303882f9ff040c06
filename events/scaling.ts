import { z } from 'zod';
import { count, cycleNo, isoTime, PoolName, poolField } from './common';
import { defineEvent } from './define';
import { OverrideInForce } from './operator';
import { Mode } from './shadow';

export const Decision = z.enum(['SCALE_UP', 'SCALE_DOWN', 'MAINTAIN']);
export type Decision = z.infer<typeof Decision>;

/** A cap cuts the desired count down; a floor raises it. */
export const LimitKind = z.enum(['cap', 'floor']);
export type LimitKind = z.infer<typeof LimitKind>;
/** What a limit's setting counts. */
export const LimitUnit = z.enum(['workers', 'GPUs', 'USD/h']);
export type LimitUnit = z.infer<typeof LimitUnit>;

/** A cap or floor that changed the desired count, with its value. */
export const AppliedLimit = z.object({
  /** The setting: MAX_WORKERS, MAX_ACTIVE_GPUS, MAX_HOURLY_COST_USD, or a policy's floor (MIN_ACTIVE_GPUS, KEDA_MIN_WORKERS, ...). */
  name: z.string(),
  /** cap (cut desired from `from` down to `to`) or floor (raised it). */
  kind: LimitKind,
  /** The setting's value, in `unit`. */
  value: z.number().nonnegative(),
  unit: LimitUnit,
  /** Desired workers before and after this limit. */
  from: count,
  to: count,
  /** The limit's math in GPUs or USD, e.g. "3 x 0.69 = 2.07 USD/h"; absent in older events. */
  detail: z.string().optional(),
});
export type AppliedLimit = z.infer<typeof AppliedLimit>;

/**
 * The settings the control loop applies to every policy alike: the caps, which idle workers may
 * go, spawning timeouts and lifetimes (a policy's own settings are recorded in `policy.settings`).
 */
export const ControlSettings = z.object({
  MAX_WORKERS: count,
  MAX_ACTIVE_GPUS: count,
  /** The burn-rate cap, USD per hour; null: off (and in events older than the setting). */
  MAX_HOURLY_COST_USD: z.number().nonnegative().nullable().default(null),
  GPU_IDLE_TIMEOUT_SEC: z.number().nonnegative(),
  SPAWNING_TIMEOUT_SEC: z.number().nonnegative(),
  WORKER_MAX_LIFETIME_SEC: z.number().positive().nullable().default(null),
});
export type ControlSettings = z.infer<typeof ControlSettings>;

/** A setting's value as recorded (JSON). */
export const SettingValue = z.union([z.number(), z.string(), z.boolean(), z.null()]);

/** A named number of a policy's formula with its math (src/policies/policy.ts PolicyTerm). */
export const PolicyTermRecord = z.object({ name: z.string(), value: z.number(), formula: z.string() });

/** Which policy decided, with its settings and its own terms, as the record keeps them. */
export const PolicyRecord = z.object({
  /** The POLICY that decided (v1 events: `operators`, the only one then). */
  name: z.string(),
  settings: z.record(z.string(), SettingValue),
  terms: z.array(PolicyTermRecord),
  /** How the terms combine into desiredBeforeCaps, by their names, e.g. `max(minActive, byTasks)`. */
  combine: z.string(),
  /**
   * The policy's own idle time before scale-down (seconds, and the setting it came from), when it has
   * one; absent: GPU_IDLE_TIMEOUT_SEC of the decision's settings applied.
   */
  scaleDownIdle: z.object({ sec: z.number().nonnegative(), setting: z.string() }).optional(),
});
export type PolicyRecord = z.infer<typeof PolicyRecord>;

export const TerminationPick = z.object({
  workerId: z.string(),
  podId: z.string().nullable(),
  idleSec: z.number().nonnegative().nullable(),
  reason: z.string(),
});
export type TerminationPick = z.infer<typeof TerminationPick>;

/** One pool's share of the global budget in a cycle (src/pools/allocate.ts PoolShare). */
export const PoolShareRecord = z.object({
  pool: PoolName,
  priority: z.number().int(),
  /** Workers the pool wanted after its own caps (its decision's, or, when stale, what it holds). */
  wantWorkers: count,
  floorWorkers: count,
  gotWorkers: count,
  gpusPerWorker: z.number().int().positive(),
  /** The global cap that held it below its want; null: it got all it wanted. */
  limitedBy: z.enum(['GLOBAL_MAX_ACTIVE_GPUS', 'GLOBAL_MAX_HOURLY_COST_USD']).nullable(),
});
export type PoolShareRecord = z.infer<typeof PoolShareRecord>;

/**
 * How the global caps were shared this cycle: the caps, and every pool's share (its own first)
 * when a global cap bound some pool; while every pool got all it wanted, its own share alone.
 * Recorded only when a global cap is set; null otherwise and in events older than pools.
 */
export const AllocationRecord = z.object({
  caps: z.object({ gpus: count.optional(), usdPerHour: z.number().nonnegative().optional() }),
  shares: z.array(PoolShareRecord),
});
export type AllocationRecord = z.infer<typeof AllocationRecord>;

/** One cycle's decision with all of its math, so it explains itself from the record alone. */
export const ScalingDecided = defineEvent({
  type: 'ScalingDecided',
  schemaVersion: 4,
  upcast: { 1: upcastDecisionV1, 2: upcastDecisionV2, 3: upcastDecisionV3 },
  schema: z.object({
    cycle: cycleNo,
    at: isoTime,
    pool: poolField,
    queued: count,
    active: count,
    total: count,
    current: z.object({ active: count, spawning: count, total: count }),
    busy: count,
    idle: count,
    /** The policy that decided: its name, settings and terms (desiredBeforeCaps is their result). */
    policy: PolicyRecord,
    desiredBeforeCaps: count,
    /** What the policy wanted before the hard GPU budget (after MAX_WORKERS). */
    requested: count,
    limits: z.array(AppliedLimit),
    desired: count,
    decision: Decision,
    /** Workers to add (SCALE_UP) or remove (SCALE_DOWN); 0 for MAINTAIN. */
    delta: count,
    terminate: z.array(TerminationPick),
    /** Workers stuck in spawning past SPAWNING_TIMEOUT_SEC: terminated and recorded as failed. */
    timedOut: z.array(TerminationPick),
    /** Workers past WORKER_MAX_LIFETIME_SEC: terminated (and replaced if still needed). */
    expired: z.array(TerminationPick).default([]),
    /**
     * Spawning workers no longer wanted: demand fell below the fleet for two cycles while they were
     * starting (src/control/cancel.ts). Terminated with reason `cancelled`, newest first.
     */
    cancel: z.array(TerminationPick).default([]),
    /** MODE when decided: `shadow` decisions are recorded as intended actions and never acted on. */
    mode: Mode.default('active'),
    /** Why spawning was stopped this cycle (circuit breaker, refused credentials), if it was. */
    spawnBlocked: z.string().nullable().default(null),
    reasons: z.array(z.string()),
    settings: ControlSettings,
    /** GPUs one new worker takes (the provider's); events older than the field were 1 GPU a worker. */
    gpusPerWorker: z.number().int().positive().default(1),
    /** GPUs of the live fleet the decision counted (incl. terminating); null in older events. */
    currentGpus: count.nullable().default(null),
    /** Prices the cost cap used: the fleet's burn and one more worker's quote, USD/h; null: unknown. */
    burnUsdPerHour: z.number().nonnegative().nullable().default(null),
    quoteUsdPerHour: z.number().nonnegative().nullable().default(null),
    /** The operators' overrides in force that cycle (pause, drain, set: src/control/overrides.ts); none in older events. */
    overrides: z.array(OverrideInForce).default([]),
    /** The global budget's sharing among pools this cycle (GLOBAL_MAX_*); null without a global cap. */
    allocation: AllocationRecord.nullable().default(null),
  }),
});

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const numberOr = (x: unknown, d: number): number => (typeof x === 'number' ? x : d);

/**
 * Version 1 had one policy, the operators' formula (recorded as `policy: "default"`), with its three
 * terms as fixed fields and its settings mixed with the caps'. Version 2 records the policy by name
 * with its own settings and terms; the formulas are written from v1's numbers the way the
 * operators policy writes them (src/policies/operators.ts).
 */
function upcastDecisionV1(data: unknown): unknown {
  if (!isRecord(data)) return data;
  const { terms, settings, ...rest } = data;
  const s = isRecord(settings) ? settings : {};
  const t = isRecord(terms) ? terms : {};
  const g = numberOr(data.gpusPerWorker, 1);
  const perGpu = numberOr(s.TASKS_PER_GPU, 1);
  const minGpus = numberOr(s.MIN_ACTIVE_GPUS, 0);
  const keepIdle = numberOr(s.MACHINES_TO_KEEP_IDLE, 0);
  return {
    ...rest,
    policy: {
      name: 'operators',
      settings: { TASKS_PER_GPU: perGpu, MIN_ACTIVE_GPUS: minGpus, MACHINES_TO_KEEP_IDLE: keepIdle },
      terms: [
        {
          name: 'minActive',
          value: t.minActive,
          formula: g === 1 ? `MIN_ACTIVE_GPUS=${minGpus}` : `ceil(MIN_ACTIVE_GPUS=${minGpus} / ${g} GPUs)`,
        },
        {
          name: 'byTasks',
          value: t.byTasks,
          formula:
            g === 1
              ? `ceil(${String(data.total)} / TASKS_PER_GPU=${perGpu})`
              : `ceil(${String(data.total)} / (TASKS_PER_GPU=${perGpu} x ${g} GPUs))`,
        },
        {
          name: 'busyPlusIdle',
          value: t.busyPlusIdle,
          formula: `busy ${String(data.busy)} + MACHINES_TO_KEEP_IDLE=${keepIdle}`,
        },
      ],
      combine: 'max(minActive, byTasks, busyPlusIdle)',
    },
    settings: {
      MAX_WORKERS: s.MAX_WORKERS,
      MAX_ACTIVE_GPUS: s.MAX_ACTIVE_GPUS,
      MAX_HOURLY_COST_USD: s.MAX_HOURLY_COST_USD ?? null,
      GPU_IDLE_TIMEOUT_SEC: s.GPU_IDLE_TIMEOUT_SEC,
      SPAWNING_TIMEOUT_SEC: s.SPAWNING_TIMEOUT_SEC,
      WORKER_MAX_LIFETIME_SEC: s.WORKER_MAX_LIFETIME_SEC ?? null,
    },
  };
}

/** The kind and unit of the limits version 2 knew, by name (it recorded neither). */
const V2_LIMITS: Record<string, { kind: LimitKind; unit: LimitUnit }> = {
  MIN_ACTIVE_GPUS: { kind: 'floor', unit: 'GPUs' },
  MAX_WORKERS: { kind: 'cap', unit: 'workers' },
  MAX_ACTIVE_GPUS: { kind: 'cap', unit: 'GPUs' },
  MAX_HOURLY_COST_USD: { kind: 'cap', unit: 'USD/h' },
};

/**
 * Version 2's limits carried no kind: a floor was known only by the name MIN_ACTIVE_GPUS. Version 3
 * records each limit's kind (cap or floor) and the unit of its value; the four names v2 could
 * record get theirs here (any other name: a cap counted in workers).
 */
function upcastDecisionV2(data: unknown): unknown {
  if (!isRecord(data) || !Array.isArray(data.limits)) return data;
  return { ...data, limits: data.limits.map(upcastLimitV2) };
}

/** Version 3 had neither cancellations nor modes: nothing was cancelled, and every decision was acted on. */
function upcastDecisionV3(data: unknown): unknown {
  return isRecord(data) ? { ...data, cancel: data.cancel ?? [], mode: data.mode ?? 'active' } : data;
}

const upcastLimitV2 = (l: unknown): unknown =>
  isRecord(l) ? { ...(V2_LIMITS[String(l.name)] ?? { kind: 'cap', unit: 'workers' }), ...l } : l;

/**
 * Limits as a projection row holds them (`scaling_decisions.limits`), also rows folded from
 * version 2 before a replay: null when they do not read as limits.
 */
export function readLimits(x: unknown): AppliedLimit[] | null {
  const res = z.array(AppliedLimit).safeParse(Array.isArray(x) ? x.map(upcastLimitV2) : x);
  return res.success ? res.data : null;
}
