import { z } from 'zod';
import { cycleNo, isoTime, poolField } from './common';
import { defineEvent } from './define';

export const AnomalyKind = z.enum([
  'rapid_scale_up',
  'task_count_spike',
  'task_count_from_nowhere',
  'slow_task_source',
  'circuit_breaker_open',
  'provider_auth_failed',
  'provider_billing_failed',
  'provider_request_invalid',
  'provider_api_retired',
  'spawning_timeout',
  'event_quarantined',
  'reads_held_back',
]);
export type AnomalyKind = z.infer<typeof AnomalyKind>;

export const AnomalyDetected = defineEvent({
  type: 'AnomalyDetected',
  schemaVersion: 1,
  schema: z.object({
    cycle: cycleNo,
    at: isoTime,
    pool: poolField,
    kind: AnomalyKind,
    message: z.string(),
    figures: z.record(z.string(), z.number()),
    causes: z.array(z.string()),
  }),
});
