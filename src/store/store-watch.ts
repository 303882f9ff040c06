import type { AnomalyKind } from '../../events/anomaly';
import type { EventStore, UnreadableEvent } from './event-store';
import { type ReadsHeldBack, readsHeldBackBy } from './read-horizon';

/** What the store reports to the control loop, in the shape of an anomaly (src/control/anomalies.ts). */
export interface StoreIncident {
  kind: Extract<AnomalyKind, 'event_quarantined' | 'reads_held_back'>;
  message: string;
  figures: Record<string, number>;
  causes: string[];
}

/** How long a transaction may hold catch-up reads back before it is reported (default). */
export const HELD_BACK_AFTER_SEC = 10;

/**
 * Watches the store for what the control loop must say out loud: stored events quarantined as
 * unreadable (each once, from the store's `quarantined` signal) and a transaction that has held the
 * catch-up readers back for longer than `heldBackAfterSec` (each once, naming its pid, login and
 * start). The controller records them as anomalies, which are logged and alerted.
 */
export class StoreWatch {
  private quarantined: { event: UnreadableEvent; recorded: boolean }[] = [];
  /** Holders seen (pid:xid) and when first seen here: the start when the database hides it. */
  private holders = new Map<string, { firstSeen: number; reported: boolean }>();
  /** The holder as the last call to incidents() saw it, once past the threshold, in words. */
  private heldBack: string | null = null;

  constructor(
    private readonly store: EventStore,
    private readonly opts: { now: () => Date; heldBackAfterSec?: number },
  ) {
    store.signals.on('quarantined', (event, recorded) => this.quarantined.push({ event, recorded }));
  }

  /** The incidents since the last call. Never throws: a store it cannot ask reports nothing. */
  async incidents(): Promise<StoreIncident[]> {
    const out = this.quarantined.map(({ event, recorded }) => quarantineIncident(event, recorded));
    this.quarantined = [];
    let holder: ReadsHeldBack | null = null;
    try {
      holder = await readsHeldBackBy(this.store.db);
    } catch {
      holder = null;
    }
    const now = this.opts.now().getTime();
    const key = holder ? `${holder.pid}:${holder.xid}` : null;
    for (const k of this.holders.keys()) if (k !== key) this.holders.delete(k);
    this.heldBack = null;
    if (holder && key) {
      const seen = this.holders.get(key) ?? { firstSeen: now, reported: false };
      this.holders.set(key, seen);
      const since = holder.since?.getTime() ?? seen.firstSeen;
      const seconds = Math.max(0, Math.round((now - since) / 1000));
      const past = seconds >= (this.opts.heldBackAfterSec ?? HELD_BACK_AFTER_SEC);
      if (past) this.heldBack = describeReadsHeldBack(holder, seconds, holder.since ?? new Date(seen.firstSeen));
      if (!seen.reported && past) {
        seen.reported = true;
        out.push(heldBackIncident(holder, seconds, holder.since ?? new Date(seen.firstSeen)));
      }
    }
    return out;
  }

  /** Who holds the catch-up reads back now (past the threshold), as the last incidents() saw it; null: nobody. */
  heldBackBy(): string | null {
    return this.heldBack;
  }
}

function quarantineIncident(e: UnreadableEvent, recorded: boolean): StoreIncident {
  return {
    kind: 'event_quarantined',
    message:
      `Stored event at global_position ${e.globalPosition} (${e.eventType}, stream ${e.streamId}) cannot be read: ` +
      'quarantined, every reader and projection skips it' +
      (recorded ? ' (gpu-scaler events --quarantined lists it)' : ' (the quarantine record could not be written)'),
    figures: { position: e.globalPosition, schemaVersion: e.schemaVersion },
    causes: [e.error],
  };
}

/** The words for a holder of the reads, one place (the anomaly; a condition can reuse it). */
export function describeReadsHeldBack(h: ReadsHeldBack, seconds: number, since: Date): string {
  const who =
    h.pid === null
      ? `transaction ${h.xid} (a session this login may not see: another login's, which pg_read_all_stats would name, or a prepared transaction)`
      : `pid ${h.pid}`;
  const role = h.role ? `, login ${h.role}` : '';
  const app = h.application ? `, application ${JSON.stringify(h.application)}` : '';
  return `${who}${role}${app}, open since ${since.toISOString()} (${seconds} s${h.state ? `, ${h.state}` : ''})`;
}

function heldBackIncident(h: ReadsHeldBack, seconds: number, since: Date): StoreIncident {
  return {
    kind: 'reads_held_back',
    message:
      `Catch-up reads are held back by ${describeReadsHeldBack(h, seconds, since)}: ` +
      'the reactor, the projections and the alerts see no newer event until it ends',
    figures: { ...(h.pid === null ? {} : { pid: h.pid }), seconds },
    causes: [
      `transaction ${h.xid} is the oldest open one that may write events`,
      h.pid === null
        ? `find it as an admin: select pid, usename from pg_stat_activity where backend_xid::text = '${Number(BigInt(h.xid) % 4294967296n)}', or in pg_prepared_xacts (COMMIT or ROLLBACK PREPARED)`
        : `end it, or as an admin: select pg_terminate_backend(${h.pid})`,
    ],
  };
}
