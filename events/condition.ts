import { z } from 'zod';
import { cycleNo, isoTime, poolField } from './common';
import { defineEvent } from './define';

/**
 * The service's conditions, in the manner of Kubernetes' HPA: AbleToScale (may it spawn: not
 * stopped by a provider refusal, the circuit breaker or capacity backoff), ScalingLimited (a cap or
 * floor changed the desired workers), SourceHealthy (the task source answered with a valid count),
 * StoreCurrent (no open transaction holds the catch-up readers back, so the reactor sees decisions).
 */
export const ConditionType = z.enum(['AbleToScale', 'ScalingLimited', 'SourceHealthy', 'StoreCurrent']);
export type ConditionType = z.infer<typeof ConditionType>;

export const ConditionStatus = z.enum(['True', 'False', 'Unknown']);
export type ConditionStatus = z.infer<typeof ConditionStatus>;

/** One condition as it stands: its status, a CamelCase reason, a sentence, and since when (the status). */
export const ConditionState = z.object({
  type: ConditionType,
  status: ConditionStatus,
  reason: z.string().min(1),
  message: z.string(),
  /** When the status last changed (Kubernetes' lastTransitionTime). */
  since: isoTime,
});
export type ConditionState = z.infer<typeof ConditionState>;

/**
 * A condition's status or reason changed this cycle (recorded in the cycle's batch on the controller
 * stream): the new state and the one it replaces (null: the first time it was recorded).
 */
export const ConditionChanged = defineEvent({
  type: 'ConditionChanged',
  schemaVersion: 1,
  schema: ConditionState.extend({
    cycle: cycleNo,
    at: isoTime,
    pool: poolField,
    previous: ConditionState.omit({ type: true }).nullable(),
  }),
});
