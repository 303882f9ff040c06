import { type ConditionState, type ConditionStatus, ConditionType } from '../../events/condition';
import type { AppliedLimit } from '../../events/scaling';
import { fallbackReason, type SourceFallback } from '../policies/render';
import type { EventStore } from '../store/event-store';
import { REFUSALS, type RefusalKind } from './provider-refusals';

export type { ConditionState, ConditionStatus, ConditionType } from '../../events/condition';

/** Every condition, in the order every surface shows them. */
export const CONDITION_TYPES: readonly ConditionType[] = ConditionType.options;

/** Why spawning is stopped this cycle (what the spawn guard saw). */
export type SpawnStop =
  | {
      kind: 'refusal';
      refusal: RefusalKind;
      /** The provider's answer (already redacted where it was recorded). */
      error: string | null;
      provider: string;
      /** Cycles between two probes of the provider while stopped. */
      probeEveryCycles: number;
    }
  | { kind: 'breaker'; windowSec: number; failureRatio: number; minSpawns: number }
  /** Every placement candidate is backing off after capacity failures (no stock anywhere). */
  | { kind: 'capacity'; until: string; why: string; provider: string };

/** What one cycle saw, as the conditions need it. An absent part was not looked at: its condition is kept. */
export interface ConditionInput {
  at: string;
  spawning?: {
    stop: SpawnStop | null;
    /** Set on the cycle a probe of the stopped provider succeeded and spawning resumed. */
    recovered: { provider: string } | null;
  };
  /** The decision's limits (caps and floors), when a decision was made. */
  limits?: readonly AppliedLimit[];
  source?:
    | {
        name: string;
        ok: true;
        /** Failed cycles in a row before this valid count (0 or absent: it did not fail). */
        failedBefore?: number;
      }
    | {
        name: string;
        ok: false;
        reason: string;
        /** Cycles in a row without a valid count, this one included (absent: 1). */
        failedCycles?: number;
        /** Set once failedCycles reached SOURCE_FAILURE_CYCLES: what the fleet does (see sourceFallback). */
        fallback?: SourceFallback | null;
      };
  /** The transaction holding the catch-up reads back, in words (null: none), from the store's watch. */
  store?: { heldBackBy: string | null };
}

/** A change of one condition: its new state and the one it replaces (null: none was recorded). */
export interface ConditionChange {
  condition: ConditionState;
  previous: Omit<ConditionState, 'type'> | null;
}

type Candidate = { status: ConditionStatus; reason: string; message: string };

/** The status each condition has when all is well (a change into it keeps no old reason). */
const HEALTHY: Record<ConditionType, ConditionStatus> = {
  AbleToScale: 'True',
  ScalingLimited: 'False',
  SourceHealthy: 'True',
  StoreCurrent: 'True',
};

/** Whether a condition is in its healthy status (AbleToScale=True, ScalingLimited=False, ...). */
export const isHealthy = (c: Pick<ConditionState, 'type' | 'status'>): boolean => c.status === HEALTHY[c.type];

const REFUSAL_REASONS: Record<RefusalKind, string> = {
  auth: 'ProviderAuthRefused',
  billing: 'ProviderBillingRefused',
  invalid_request: 'ProviderRequestInvalid',
  api_retired: 'ProviderApiRetired',
};

/** Reasons of ScalingLimited=True by the unit of the cap that set the final desired count. */
const CAP_REASONS: Record<AppliedLimit['unit'], string> = {
  workers: 'TooManyWorkers',
  GPUs: 'GpuBudget',
  'USD/h': 'SpendCap',
};

function ableToScale(s: NonNullable<ConditionInput['spawning']>, previous: ConditionState | undefined): Candidate {
  const stop = s.stop;
  if (stop?.kind === 'refusal') {
    const r = REFUSALS[stop.refusal];
    return {
      status: 'False',
      reason: REFUSAL_REASONS[stop.refusal],
      message:
        `${stop.provider}: ${r.why}${stop.error ? ` (${stop.error})` : ''}; spawning stopped, ` +
        `the provider is probed with a read every ${stop.probeEveryCycles} cycle(s) and spawning resumes when it succeeds; ${r.fix}`,
    };
  }
  if (stop?.kind === 'breaker') {
    return {
      status: 'False',
      reason: 'CircuitBreakerOpen',
      message: `over ${Math.round(stop.failureRatio * 100)}% of the spawns in the last ${stop.windowSec}s failed (at least ${stop.minSpawns} counted, capacity failures not counted): spawning stopped until the window clears`,
    };
  }
  if (stop?.kind === 'capacity') {
    return {
      status: 'False',
      reason: 'CapacityBackoff',
      message: `${stop.provider}: no placement candidate has capacity: every one is backing off until ${stop.until} (${stop.why}); no spawn is requested until then`,
    };
  }
  if (s.recovered) {
    return {
      status: 'True',
      reason: 'ProviderRecovered',
      message: `a read of ${s.recovered.provider} succeeded after a refusal: spawning resumed`,
    };
  }
  if (previous?.reason === 'CircuitBreakerOpen') {
    return { status: 'True', reason: 'CircuitBreakerClosed', message: 'the circuit breaker closed: spawning resumed' };
  }
  return { status: 'True', reason: 'SpawningAllowed', message: 'spawning is allowed' };
}

function scalingLimited(limits: readonly AppliedLimit[]): Candidate {
  const binding = limits.filter((l) => l.to !== l.from);
  const last = binding[binding.length - 1];
  if (!last) {
    return { status: 'False', reason: 'DesiredWithinRange', message: 'no cap or floor changed the desired workers' };
  }
  const floor = last.kind === 'floor';
  const names = binding.map((l) => `${l.name}=${l.value}`).join(', ');
  return {
    status: 'True',
    reason: floor ? 'TooFewWorkers' : CAP_REASONS[last.unit],
    message: floor
      ? `desired workers raised by a floor (${names})`
      : `desired workers capped (${names}); ${last.name} set the final count`,
  };
}

export type { SourceFallback } from '../policies/render';

/** The reasons of SourceHealthy=False while a fallback acts (the alert rules know them by these). */
export const FALLBACK_REASONS = ['FleetHeldOnSourceFailure', 'FallbackWorkers'] as const;

function sourceHealthy(s: NonNullable<ConditionInput['source']>, previous: ConditionState | undefined): Candidate {
  if (s.ok) {
    if (previous && (FALLBACK_REASONS as readonly string[]).includes(previous.reason)) {
      return {
        status: 'True',
        reason: 'SourceRecovered',
        message: `${s.name} answered with a valid count again${s.failedBefore ? ` after ${s.failedBefore} failed cycles` : ''}: the policy decides again`,
      };
    }
    return { status: 'True', reason: 'TaskCountAccepted', message: `${s.name} answered with a valid count` };
  }
  if (s.fallback) {
    const n = s.failedCycles ?? 1;
    return {
      status: 'False',
      reason: s.fallback.workers === null ? FALLBACK_REASONS[0] : FALLBACK_REASONS[1],
      message: `${fallbackReason(s.fallback, n)} (${s.name}, the last: ${s.reason})`,
    };
  }
  const reason = /timed out/.test(s.reason)
    ? 'SourceTimedOut'
    : /failed:/.test(s.reason)
      ? 'SourceFailed'
      : 'TaskCountRejected';
  return {
    status: 'False',
    reason,
    message: `task counts from ${s.name} are rejected (${s.reason}): no scaling decision, the fleet is held`,
  };
}

function storeCurrent(s: NonNullable<ConditionInput['store']>): Candidate {
  if (!s.heldBackBy)
    return { status: 'True', reason: 'ReadsCurrent', message: 'no open transaction holds the catch-up reads back' };
  return {
    status: 'False',
    reason: 'ReadsHeldBack',
    message: `catch-up reads are held back by ${s.heldBackBy}: the reactor acts on no newer decision until it ends`,
  };
}

/**
 * Pure: the conditions after one cycle, from the ones before it and what the cycle saw, and which
 * of them changed (each change is recorded as a ConditionChanged event). A condition changes when
 * its status changes, or its reason while it is not in its healthy status (a refusal of another
 * kind, another cap binding); otherwise it is kept as it was, message and `since` included, so a
 * failing condition is one record from when it began to when it ended, not one a cycle.
 */
export function nextConditions(
  previous: ReadonlyMap<ConditionType, ConditionState>,
  input: ConditionInput,
): { conditions: ConditionState[]; changes: ConditionChange[] } {
  const candidates: Partial<Record<ConditionType, Candidate>> = {
    AbleToScale: input.spawning ? ableToScale(input.spawning, previous.get('AbleToScale')) : undefined,
    ScalingLimited: input.limits ? scalingLimited(input.limits) : undefined,
    SourceHealthy: input.source ? sourceHealthy(input.source, previous.get('SourceHealthy')) : undefined,
    StoreCurrent: input.store ? storeCurrent(input.store) : undefined,
  };
  const conditions: ConditionState[] = [];
  const changes: ConditionChange[] = [];
  for (const type of CONDITION_TYPES) {
    const before = previous.get(type);
    const c = candidates[type];
    if (!c) {
      if (before) conditions.push(before);
      continue;
    }
    const same = before && before.status === c.status && (c.status === HEALTHY[type] || before.reason === c.reason);
    if (before && same) {
      conditions.push(before);
      continue;
    }
    const next: ConditionState = {
      type,
      ...c,
      since: before && before.status === c.status ? before.since : input.at,
    };
    conditions.push(next);
    changes.push({
      condition: next,
      previous: before
        ? { status: before.status, reason: before.reason, message: before.message, since: before.since }
        : null,
    });
  }
  return { conditions, changes };
}

/**
 * What a condition does to readiness (/readyz): the controller is not ready while it cannot scale:
 * AbleToScale=False (spawning stopped by a provider refusal or the circuit breaker) or
 * SourceHealthy=False (no valid task count, so no decision). ScalingLimited=True is the
 * configuration working as set (a cap or floor binding) and never makes it unready.
 */
export function blocksReadiness(c: ConditionState): boolean {
  return (c.type === 'AbleToScale' || c.type === 'SourceHealthy') && c.status === 'False';
}

/** A span of seconds in words: 45s, 3m 20s, 2h 5m, 3d 4h. */
export function spanText(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? ` ${s % 60}s` : ''}`;
  if (s < 86400)
    return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)}m` : ''}`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600) ? ` ${Math.floor((s % 86400) / 3600)}h` : ''}`;
}

const utc = (iso: string) => `${iso.slice(0, 19).replace('T', ' ')} UTC`;

/**
 * The one rendering of a condition into words, called by every surface (the log, `status`,
 * `explain`, `events`, /readyz, the dashboard):
 * `AbleToScale=False (ProviderAuthRefused) since 2026-12-05 22:10:03 UTC (for 3m 20s): <message>`.
 */
export function conditionText(c: ConditionState, now?: Date): string {
  const age = now ? ` (for ${spanText((now.getTime() - Date.parse(c.since)) / 1000)})` : '';
  return `${c.type}=${c.status} (${c.reason}) since ${utc(c.since)}${age}: ${c.message}`;
}

/** A change in words: the new state, and what it ended (`ended AbleToScale=False (...) after 5m`). */
export function conditionChangeText(ch: {
  condition: ConditionState;
  previous: Omit<ConditionState, 'type'> | null;
}): string {
  const c = ch.condition;
  const p = ch.previous;
  const ended =
    p && p.status !== c.status
      ? `; ended ${c.type}=${p.status} (${p.reason}) after ${spanText((Date.parse(c.since) - Date.parse(p.since)) / 1000)}`
      : p
        ? `; was ${p.reason}`
        : '';
  return `${c.type}=${c.status} (${c.reason}): ${c.message}${ended}`;
}

/** The JSON shape every API answers with: the state and its sentence. */
export function conditionJson(c: ConditionState, now?: Date): ConditionState & { text: string } {
  return { ...c, text: conditionText(c, now) };
}

/** The refusal an AbleToScale=False condition records, if that is why it is False. */
export function refusalOf(c: ConditionState | undefined): RefusalKind | null {
  if (c?.type !== 'AbleToScale' || c.status !== 'False') return null;
  const hit = (Object.keys(REFUSAL_REASONS) as RefusalKind[]).find((k) => REFUSAL_REASONS[k] === c.reason);
  return hit ?? null;
}

/** The conditions as the record has them (the last change of each), in CONDITION_TYPES order. */
export async function recordedConditions(store: EventStore, pool?: string): Promise<ConditionState[]> {
  const events = await store.reads.lastConditionChanges(CONDITION_TYPES, pool);
  const byType = new Map<ConditionType, ConditionState>();
  for (const e of events) {
    if (e.type !== 'ConditionChanged') continue;
    const { type, status, reason, message, since } = e.data;
    byType.set(type, { type, status, reason, message, since });
  }
  return CONDITION_TYPES.flatMap((t) => byType.get(t) ?? []);
}

/** A recorded ConditionChanged in words (explain, events, the dashboard): as conditionChangeText. */
export function conditionEventText(d: ConditionState & { previous: Omit<ConditionState, 'type'> | null }): string {
  const { type, status, reason, message, since, previous } = d;
  return conditionChangeText({ condition: { type, status, reason, message, since }, previous });
}
