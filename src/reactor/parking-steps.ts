import { type DataOf, DEFAULT_POOL, inPool, type PoolName, Streams } from '../../events/index';
import type { TerminationPick } from '../../events/scaling';
import type { WorkerStatus } from '../../projections/workers';
import { unparkSlot } from '../../projections/workers-parking';
import type { Clock } from '../clock';
import { readWorkerRows } from '../control/fleet';
import { deterministicId } from '../control/ids';
import { type ControlLog, fact } from '../control/log';
import { terminatedLine } from '../control/messages';
import { hasCode } from '../errors';
import type { PodInfo, Provider } from '../providers/provider';
import type { EventStore, NewEvent, StoredEvent } from '../store/event-store';
import {
  type ParkingSettings,
  type PoolWorker,
  parkChoice,
  parkedLine,
  pickToUnpark,
  toRetire,
  unparkedLine,
  unparkRefusedLine,
} from './parking';

const POOL: WorkerStatus[] = ['parked', 'spawning', 'active', 'terminating'];

export interface ParkingDeps {
  store: EventStore;
  provider: Provider;
  clock: Clock;
  log: ControlLog;
  settings: ParkingSettings;
  /** The pool whose workers park and start again (default: `default`); its events name it. */
  pool?: PoolName;
}

/** The events of a worker's current life: those after its last start from parked. */
export function currentLife(history: readonly StoredEvent[]): { life: StoredEvent[]; unparks: number } {
  let last = -1;
  let unparks = 0;
  history.forEach((h, i) => {
    if (h.type === 'WorkerUnparked') {
      last = i;
      unparks++;
    }
  });
  return { life: history.slice(last + 1), unparks };
}

/** `${workerId}:${what}` for the first life, `${workerId}:${what}:${n}` after the n-th start from parked. */
export const lifeEventId = (workerId: string, what: string, unparks: number) =>
  deterministicId(unparks === 0 ? `${workerId}:${what}` : `${workerId}:${what}:${unparks}`);

type Decision = StoredEvent<{ type: 'ScalingDecided'; data: DataOf<'ScalingDecided'> }>;

/**
 * Parking's provider calls and records, for the reactor. Crash safety, step by step:
 * - park: WorkerTerminationRequested (the worker is `terminating`, which fleet-sync leaves alone),
 *   the stop, WorkerParked. Killed in between: the decision is handled again and the stop (a no-op on
 *   a stopped pod) and the record are done again, or the worker is terminated;
 * - unpark: the start, then WorkerUnparked (the slot it filled is on the row). Killed in between: the
 *   pod runs while the worker is recorded parked; the sweep at the start of the next act stops it
 *   again before anything is spawned, so it is never both parked and running in the record and is
 *   never forgotten; the slot is filled again (a slot already filled is recognised by its row);
 * - refused: the pod is terminated, then WorkerUnparkRefused; killed in between: the worker is still
 *   parked with no pod, and the sweep records it as gone;
 * - a worker keeps its one pod (and its pod's name) through every park and start: never two pods.
 */
export class ParkingSteps {
  private readonly pool: PoolName;

  constructor(private readonly d: ParkingDeps) {
    this.pool = d.pool ?? DEFAULT_POOL;
  }

  /** Appends a worker's events, each naming this pool. */
  private append(stream: string, events: NewEvent[]): Promise<unknown> {
    return this.d.store.append(stream, inPool(this.pool, events));
  }

  get settings(): ParkingSettings {
    return this.d.settings;
  }

  /** Parked and live workers: the projection plus the worker events committed past its checkpoint. */
  async readPool(): Promise<PoolWorker[]> {
    return (await readWorkerRows(this.d.store.reads, POOL, this.pool)).map((r) => ({
      workerId: r.worker_id,
      podId: r.pod_id,
      status: r.status,
      parkedAt: r.parked_at ? new Date(r.parked_at).toISOString() : null,
      unparks: r.unparks ?? 0,
      unparkSlot: r.unpark_slot ?? null,
      hourlyCostUsd: r.hourly_cost_usd ?? null,
      position: Number(r.last_position),
    }));
  }

  /**
   * At the start of each act: parked pods the provider no longer has are recorded as gone; a parked
   * pod found running (a kill between a start and its record) is stopped again; pods parked past
   * PARKED_MAX_AGE_SEC, or beyond PARKED_MAX, are terminated.
   */
  async sweep(cycle: number): Promise<void> {
    const { provider, log } = this.d;
    const pool = await this.readPool();
    let parked = pool.filter((w) => w.status === 'parked');
    if (parked.length === 0) return;
    let pods: PodInfo[] | null = null;
    try {
      pods = await provider.list();
    } catch (err) {
      log.log('warning', `parking: could not list ${provider.name} pods: ${(err as Error).message}`, { cycle });
    }
    if (pods) {
      const byKey = new Map(pods.map((p) => [p.idempotencyKey ?? p.name, p]));
      const byId = new Map(pods.map((p) => [p.podId, p]));
      for (const w of parked) {
        const pod = byKey.get(w.workerId) ?? (w.podId ? byId.get(w.podId) : undefined);
        if (!pod || pod.status === 'terminated' || pod.status === 'failed') {
          await this.end(w, cycle, 'lost', `parked pod ${w.podId} is gone from ${provider.name}`, !pod);
        } else if ((pod.status === 'running' || pod.status === 'starting') && provider.park) {
          log.log(
            'warning',
            `parking: worker ${w.workerId} is recorded parked but its pod ${pod.podId} is ${pod.status} (a start left unrecorded): stopping it again`,
            { cycle, workerId: w.workerId },
          );
          await provider.park(pod.podId, 'recorded parked').catch(async (err) => {
            log.log(
              'warning',
              `parking: could not stop pod ${pod.podId} again (${(err as Error).message}): terminating it`,
              {
                cycle,
              },
            );
            await this.end(w, cycle, 'idle', `parked but found ${pod.status}, and it could not be stopped`, true);
          });
        }
      }
      parked = (await this.readPool()).filter((w) => w.status === 'parked');
    }
    for (const r of toRetire(parked, this.d.clock.now(), this.d.settings))
      await this.end(r.worker, cycle, r.reason, r.why, true);
  }

  /** Terminates a parked worker's pod (when `call`) and records its end. */
  private async end(
    w: PoolWorker,
    cycle: number,
    reason: 'lifetime' | 'idle' | 'lost',
    detail: string,
    call: boolean,
  ): Promise<void> {
    const { provider, clock, log } = this.d;
    if (call && w.podId) await provider.terminate(w.podId, `${reason}: ${detail} (cycle #${cycle})`);
    const data = {
      workerId: w.workerId,
      at: clock.now().toISOString(),
      podId: w.podId,
      reason,
      detail,
      failed: false,
      exitCode: null,
      gpuSeconds: 0,
    };
    try {
      await this.append(Streams.worker(w.workerId), [
        { type: 'WorkerTerminated', eventId: deterministicId(`${w.workerId}:terminated`), data, metadata: { cycle } },
      ]);
    } catch (err) {
      if (hasCode(err, 'EVENT_ID_CONFLICT')) return;
      throw err;
    }
    fact(log, 'notice', terminatedLine(data), { cycle, workerId: w.workerId });
  }

  /**
   * Parks an idle worker instead of terminating it, when parkChoice allows; resolves to whether it
   * was parked (false: terminate it as before). `life` is the worker's current life (currentLife).
   */
  async tryPark(
    pick: TerminationPick,
    cycle: number,
    podId: string | null,
    lifeNo: { life: StoredEvent[]; unparks: number },
    startedAt: string | null,
  ): Promise<boolean> {
    const { provider, clock, log, settings } = this.d;
    const { life, unparks } = lifeNo;
    if (life.some((h) => h.type === 'WorkerParked')) return true;
    const parkedNow = settings.max > 0 ? (await this.readPool()).filter((w) => w.status === 'parked').length : 0;
    const choice = parkChoice(settings, { parkedNow, providerParks: !!provider.park, hasPod: podId !== null });
    if (!choice.park || !podId || !provider.park) return false;
    const stream = Streams.worker(pick.workerId);
    if (!life.some((h) => h.type === 'WorkerTerminationRequested')) {
      await this.append(stream, [
        {
          type: 'WorkerTerminationRequested',
          eventId: lifeEventId(pick.workerId, 'terminate-requested', unparks),
          data: {
            workerId: pick.workerId,
            at: clock.now().toISOString(),
            cycle,
            podId,
            reason: 'idle',
            detail: `${pick.reason}; to be parked (${choice.why})`,
          },
          metadata: { cycle },
        },
      ]);
    }
    try {
      await provider.park(podId, `idle: ${pick.reason} (cycle #${cycle})`);
    } catch (err) {
      log.log(
        'warning',
        `parking: could not stop pod ${podId} of ${pick.workerId} (${(err as Error).message}): terminating it`,
        {
          cycle,
          workerId: pick.workerId,
        },
      );
      return false;
    }
    const now = clock.now();
    const data = {
      workerId: pick.workerId,
      at: now.toISOString(),
      podId,
      pool: this.pool,
      cycle,
      detail: `${pick.reason}; ${choice.why}`,
      parked: parkedNow + 1,
      parkedMax: settings.max,
      gpuSeconds: startedAt ? Math.max(0, Math.round((now.getTime() - Date.parse(startedAt)) / 1000)) : null,
      parkedHourlyUsd: settings.hourlyUsd,
    };
    await this.append(stream, [
      { type: 'WorkerParked', eventId: lifeEventId(pick.workerId, 'parked', unparks), data, metadata: { cycle } },
    ]);
    fact(log, 'notice', parkedLine(data), { cycle, workerId: pick.workerId });
    return true;
  }

  /** Whether spawn `ordinal` of a decision was filled from the parked pool already (before a kill). */
  async slotFilled(e: Decision, ordinal: number): Promise<boolean> {
    const slot = unparkSlot(e.eventId, ordinal);
    return (await this.readPool()).some((w) => w.unparkSlot === slot && w.status !== 'parked');
  }

  /**
   * Fills spawn `ordinal` of a decision from the parked pool: the most recently parked worker is
   * started; a refused start terminates that pod and is recorded, and the caller cold-creates for
   * the slot at once (as when none is parked). Resolves to true when the slot is filled (now or by
   * a run before a crash).
   */
  async tryUnpark(e: Decision, ordinal: number, maxHourlyUsd: number | null): Promise<boolean> {
    const { store, provider, clock, log } = this.d;
    if (!provider.unpark) return false;
    const d = e.data;
    {
      const pool = await this.readPool();
      const w = pickToUnpark(pool, maxHourlyUsd);
      if (!w?.podId) return false;
      const history = await store.readStream(Streams.worker(w.workerId));
      const { unparks } = currentLife(history);
      const parkedAt = w.parkedAt ?? clock.now().toISOString();
      const base = {
        workerId: w.workerId,
        podId: w.podId,
        pool: this.pool,
        cycle: d.cycle,
        decisionEventId: e.eventId,
        ordinal,
        of: d.delta,
        parkedAt,
      };
      let pod: PodInfo;
      try {
        pod = await provider.unpark(
          w.podId,
          `cycle #${d.cycle} ${d.decision}, worker ${ordinal} of ${d.delta} (gpu-scaler explain --cycle ${d.cycle})`,
        );
      } catch (err) {
        const kind = hasCode(err, 'PROVIDER') ? err.kind : 'error';
        await provider.terminate(w.podId, `start refused: ${(err as Error).message}`).catch(() => {});
        const data = { ...base, at: clock.now().toISOString(), kind, error: (err as Error).message };
        await this.append(Streams.worker(w.workerId), [
          {
            type: 'WorkerUnparkRefused',
            eventId: deterministicId(`${w.workerId}:unpark-refused`),
            data,
            metadata: { cycle: d.cycle, causationId: e.eventId },
          },
        ]);
        fact(log, 'warning', unparkRefusedLine(data), { cycle: d.cycle, workerId: w.workerId });
        return false; // the refused start falls through to a cold create for this slot, in this cycle
      }
      const data = {
        ...base,
        at: clock.now().toISOString(),
        details: pod.details ?? {},
        gpuCount: pod.gpuCount ?? provider.gpusPerWorker,
        hourlyCostUsd: pod.hourlyCostUsd ?? w.hourlyCostUsd,
      };
      await this.append(Streams.worker(w.workerId), [
        {
          type: 'WorkerUnparked',
          eventId: lifeEventId(w.workerId, 'unparked', unparks + 1),
          data,
          metadata: { cycle: d.cycle, causationId: e.eventId },
        },
      ]);
      fact(log, 'crit', unparkedLine(data), { cycle: d.cycle, workerId: w.workerId });
      return true;
    }
  }
}
