import { DEFAULT_POOL } from '../../events/common';
import type { AppEventType } from '../../events/index';
import { conditionText, FALLBACK_REASONS } from '../control/conditions';
import type { StoredEvent } from '../store/event-store';

/**
 * Which events are alerts, how repeats are grouped, and the message a Slack incoming webhook takes.
 * Pure: src/observe/alerts.ts sends them.
 */

/** The event types that can be alerts: the only ones the alert sender reads. */
export const ALERT_EVENT_TYPES: readonly AppEventType[] = ['AnomalyDetected', 'HealthChecked', 'ConditionChanged'];

export interface Alert {
  /** Repeats of the same key are grouped: `anomaly:<kind>` or `health:<status>`, and `@<pool>` beyond pool default. */
  key: string;
  /** The pool whose event it is. */
  pool: string;
  title: string;
  text: string;
  /** The event's time (ISO 8601) and cycle. */
  at: string;
  cycle: number;
  eventId: string;
}

const TITLES: Record<string, string> = {
  circuit_breaker_open: '🛑 Circuit breaker open: spawning stopped',
  slow_task_source: '🐢 Task source slow',
  rapid_scale_up: '🚀 Rapid scale-up',
  task_count_spike: '📈 Task count spike',
  task_count_from_nowhere: '📈 Tasks from nowhere',
  provider_auth_failed: '🔑 Provider refused the credentials: spawning stopped',
  provider_billing_failed: '💳 Provider billing failed: spawning stopped',
  provider_request_invalid: '⚠️ Provider rejected the request: spawning stopped',
  provider_api_retired: '⚠️ Provider API retired: spawning stopped',
  spawning_timeout: '⏱️ Worker spawn timed out',
  event_quarantined: '🧯 Unreadable event quarantined',
  reads_held_back: '⏳ Event reads held back by an open transaction',
};

/**
 * The alert an event raises, if any: every anomaly (among them the circuit breaker opening and a
 * task source slower than ANOMALY_SLOW_SOURCE_SEC), a health check that is not healthy, and the
 * task source's fallback taking over (SOURCE_FAILURE_CYCLES failed cycles) and ending.
 */
export function alertOf(e: StoredEvent, o: { namePools?: boolean } = {}): Alert | null {
  const found = alertOfEvent(e);
  if (!found) return null;
  // a decoded event always names its pool (the schema's default); one built by hand may not
  const a = { ...found, pool: found.pool || DEFAULT_POOL };
  // a pool other than default is always named; default too when the configuration has several pools
  const named = o.namePools === true || a.pool !== DEFAULT_POOL;
  return {
    ...a,
    key: a.pool === DEFAULT_POOL ? a.key : `${a.key}@${a.pool}`,
    title: named ? `pool ${a.pool}: ${a.title}` : a.title,
  };
}

function alertOfEvent(e: StoredEvent): Alert | null {
  if (e.type === 'AnomalyDetected') {
    const anomaly = e.data;
    return {
      key: `anomaly:${anomaly.kind}`,
      title: TITLES[anomaly.kind] ?? `🚨 Anomaly: ${anomaly.kind}`,
      text: [anomaly.message, ...anomaly.causes.map((c) => `• ${c}`)].join('\n'),
      pool: anomaly.pool,
      at: anomaly.at,
      cycle: anomaly.cycle,
      eventId: e.eventId,
    };
  }
  if (e.type === 'ConditionChanged' && e.data.type === 'SourceHealthy') {
    const c = e.data;
    const fallback = (FALLBACK_REASONS as readonly string[]).includes(c.reason);
    if (!fallback && c.reason !== 'SourceRecovered') return null;
    return {
      key: `condition:SourceHealthy:${c.status}`,
      title: fallback
        ? `🧯 Task source failing: ${c.reason === 'FallbackWorkers' ? 'going to FALLBACK_WORKERS' : 'fleet held'}`
        : '✅ Task source recovered: the policy decides again',
      text: conditionText(c),
      pool: c.pool,
      at: c.at,
      cycle: c.cycle,
      eventId: e.eventId,
    };
  }
  if (e.type === 'HealthChecked' && e.data.status !== 'healthy') {
    const health = e.data;
    return {
      key: `health:${health.status}`,
      title: health.status === 'failing' ? '❌ Health check failing' : '⚠️ Health check degraded',
      text: health.problems.length ? health.problems.map((p) => `• ${p}`).join('\n') : 'no problem was named',
      pool: health.pool,
      at: health.at,
      cycle: health.cycle,
      eventId: e.eventId,
    };
  }
  return null;
}

/** Whether to send an alert now, and how many repeats of it were held back since the last one sent. */
export type GroupDecision = { send: true; repeats: number } | { send: false };

/**
 * Groups repeats: an alert whose key was sent less than `windowMs` before (by event time) is held
 * back and counted; the next one sent for that key says how many were. Pure state, rebuilt after a
 * restart by replaying the alerts of the last window (see AlertSender).
 */
export class AlertGrouper {
  private readonly last = new Map<string, { sentAt: number; held: number }>();

  constructor(private readonly windowMs: number) {}

  decide(a: Alert): GroupDecision {
    const prev = this.last.get(a.key);
    const at = Date.parse(a.at);
    if (prev && at - prev.sentAt < this.windowMs) return { send: false };
    return { send: true, repeats: prev?.held ?? 0 };
  }

  /** Records what was done with an alert (after it was sent, or held back). */
  record(a: Alert, d: GroupDecision): void {
    const prev = this.last.get(a.key);
    if (d.send) this.last.set(a.key, { sentAt: Date.parse(a.at), held: 0 });
    else if (prev) prev.held += 1;
  }
}

/** The JSON body a Slack incoming webhook accepts: `text` (the fallback) plus blocks. */
export function slackMessage(
  a: Alert,
  repeats: number,
  windowSec: number,
): { text: string; blocks: Record<string, unknown>[] } {
  const again =
    repeats > 0
      ? `\n(${repeats} more like it since the last alert of this kind, held back: ALERT_GROUP_WINDOW_SEC=${windowSec})`
      : '';
  return {
    text: `gpu-scaler: ${a.title}: ${a.text}${again}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: `gpu-scaler: ${a.title}`.slice(0, 150), emoji: true } },
      { type: 'section', text: { type: 'mrkdwn', text: `${a.text}${again}`.slice(0, 3000) } },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `${a.pool === DEFAULT_POOL ? '' : `pool ${a.pool} · `}cycle #${a.cycle} at ${a.at} · \`gpu-scaler explain${a.pool === DEFAULT_POOL ? '' : ` --pool ${a.pool}`} --cycle ${a.cycle}\` · event ${a.eventId}`,
          },
        ],
      },
    ],
  };
}
