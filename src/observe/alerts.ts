import { makeRedactor, type Redactor } from '../logging/redact';
import type { EventStore, StoredEvent } from '../store/event-store';
import { eventTime } from '../store/event-time';
import { eventsHandledSince } from '../store/queries';
import { Subscription } from '../store/subscription';
import { ALERT_EVENT_TYPES, AlertGrouper, alertOf, slackMessage } from './alert-rules';

export const ALERTS_CHECKPOINT = 'alerts';

export interface AlertSenderOptions {
  store: EventStore;
  /** ALERT_WEBHOOK_URL. */
  url: string;
  /** ALERT_GROUP_WINDOW_SEC. */
  groupWindowSec: number;
  /** The configured secrets: redacted from every message. */
  secrets: readonly string[];
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** A failed post is retried after this, doubling up to maxBackoffMs (default 1 s to 60 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Whether the configuration has several pools: then every alert names its pool (an alert of a pool
   * other than default always does). Default false: a deployment of one pool alerts as before pools.
   */
  namePools?: boolean;
  /** How often it looks for new events without a wake-up (default 1 s). */
  pollIntervalMs?: number;
}

/**
 * Posts alerts to a webhook. A checkpointed subscriber of the store, one event at a time: the
 * checkpoint moves only after the webhook accepted the alert (2xx), so each alert is sent once,
 * across restarts too (a crash between the post and the checkpoint is the one way to send one
 * twice). A failed post is retried with backoff by the subscription, in the background: it never
 * delays a cycle. Repeats of the same alert within the group window are held back and counted.
 */
export class AlertSender {
  readonly subscription: Subscription;
  private grouper: AlertGrouper | null = null;
  private readonly redact: Redactor;

  constructor(private readonly o: AlertSenderOptions) {
    this.redact = makeRedactor(o.secrets);
    this.subscription = new Subscription(o.store, {
      name: ALERTS_CHECKPOINT,
      transactional: false,
      eventTypes: ALERT_EVENT_TYPES,
      batchSize: 1,
      pollIntervalMs: o.pollIntervalMs ?? 1000,
      minBackoffMs: o.minBackoffMs ?? 1000,
      maxBackoffMs: o.maxBackoffMs ?? 60_000,
      handle: async (events) => {
        for (const e of events) await this.handle(e);
      },
    });
  }

  start(): void {
    this.subscription.start();
  }

  stop(): Promise<void> {
    return this.subscription.stop();
  }

  catchUp(): Promise<number> {
    return this.subscription.catchUp();
  }

  private async handle(e: StoredEvent): Promise<void> {
    const alert = alertOf(e, { namePools: this.o.namePools });
    if (!alert) return;
    const grouper = await this.restoredGrouper(e);
    const decision = grouper.decide(alert);
    if (decision.send) await this.post(slackMessage(alert, decision.repeats, this.o.groupWindowSec));
    grouper.record(alert, decision);
  }

  /** The grouping state: on the first alert after a start, the alerts already handled in the last window replayed. */
  private async restoredGrouper(first: StoredEvent): Promise<AlertGrouper> {
    if (this.grouper) return this.grouper;
    const windowMs = this.o.groupWindowSec * 1000;
    const grouper = new AlertGrouper(windowMs);
    const upTo = this.subscription.position;
    if (upTo) {
      const since = new Date(eventTime(first.data, first.recordedAt).getTime() - windowMs).toISOString();
      for (const e of await eventsHandledSince(this.o.store, ALERT_EVENT_TYPES, since, upTo)) {
        const a = alertOf(e, { namePools: this.o.namePools });
        if (a) grouper.record(a, grouper.decide(a));
      }
    }
    this.grouper = grouper;
    return grouper;
  }

  private async post(body: unknown): Promise<void> {
    const text = this.redact(JSON.stringify(body));
    let res: Response;
    try {
      res = await fetch(this.o.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: text,
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
      });
    } catch (err) {
      // the URL is a secret: the error names neither it nor its host
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new Error(`the alert webhook could not be reached (${cause}); will retry`);
    }
    const answer = this.redact((await res.text().catch(() => '')).slice(0, 200));
    if (!res.ok) throw new Error(`the alert webhook answered ${res.status}${answer ? `: ${answer}` : ''}; will retry`);
  }
}
