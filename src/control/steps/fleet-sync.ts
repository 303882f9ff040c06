import { inPool, type PoolName, Streams } from '../../../events/index';
import type { Clock } from '../../clock';
import { hasCode } from '../../errors';
import type { PodInfo, Provider } from '../../providers/provider';
import { listEveryPod } from '../../shadow/observe';
import type { EventStore } from '../../store/event-store';
import { deterministicId } from '../ids';
import { type ControlLog, fact } from '../log';
import { terminatedLine } from '../messages';
import type { FleetWorker } from '../policy';

export interface FleetSyncContext {
  store: EventStore;
  provider: Provider;
  clock: Clock;
  log: ControlLog;
  /** The pool whose fleet this is: its workers' events name it. */
  pool: PoolName;
}

/**
 * Observe, every cycle: compares live workers (the fleet the controller read: only workers not yet
 * ended, never the whole history) with the provider's pods. A started pod activates its worker; a
 * worker whose pod is gone or exited is recorded as terminated (failed). Returns whether it
 * recorded anything (the projections and `fleet` are then behind).
 */
export async function syncFleet(
  ctx: FleetSyncContext,
  cycle: number,
  fleet: readonly (Pick<FleetWorker, 'workerId' | 'podId' | 'status' | 'requestedAt'> & { unparks?: number })[],
): Promise<boolean> {
  const { store, provider, clock, log } = ctx;
  if (fleet.length === 0) return false;
  let pods: PodInfo[];
  try {
    // every pod, not only gpu-scaler's: an adopted worker's pod keeps the name another orchestrator gave it
    pods = await listEveryPod(provider);
  } catch (err) {
    log.log('warning', `could not list ${provider.name} pods: ${(err as Error).message}`, { cycle });
    return false;
  }
  const byKey = new Map(pods.map((p) => [p.idempotencyKey ?? p.name, p]));
  const at = clock.now().toISOString();
  let wrote = false;
  for (const w of fleet) {
    if (!w.podId || w.status === 'terminating') continue;
    const pod = byKey.get(w.workerId);
    const stream = Streams.worker(w.workerId);
    if (pod && pod.status === 'running' && w.status === 'spawning') {
      try {
        await store.append(
          stream,
          inPool(ctx.pool, [
            {
              type: 'WorkerActivated',
              data: { workerId: w.workerId, at, podId: pod.podId },
              // a worker started again from parked is activated once per start
              eventId: deterministicId(w.unparks ? `${w.workerId}:activated:${w.unparks}` : `${w.workerId}:activated`),
              metadata: { cycle },
            },
          ]),
        );
      } catch (err) {
        if (!hasCode(err, 'EVENT_ID_CONFLICT')) throw err;
        continue; // recorded already (by a run that died before its projection caught up)
      }
      log.log('info', `🟢 Worker ${w.workerId} is up (pod ${pod.podId})`, { cycle, workerId: w.workerId });
      wrote = true;
    } else if (!pod && Date.parse(at) - Date.parse(w.requestedAt) < (provider.listGraceMs ?? 0)) {
      // not listed yet: the provider's list may lag behind its creates; lost only after that
    } else if (!pod || pod.status === 'exited' || pod.status === 'failed' || pod.status === 'terminated') {
      const reason = pod ? 'exited' : 'lost';
      const detail = pod
        ? `pod ${pod.podId} ${pod.status}${pod.exitCode != null ? ` with exit code ${pod.exitCode}` : ''}`
        : `pod ${w.podId} is gone from ${provider.name}`;
      // An exited pod still bills for its disk on some providers: remove it.
      if (pod) await provider.terminate(pod.podId).catch(() => {});
      const data = {
        workerId: w.workerId,
        at,
        podId: w.podId,
        reason: reason as 'exited' | 'lost',
        detail,
        failed: !pod || (pod.exitCode ?? 1) !== 0,
        exitCode: pod?.exitCode ?? null,
        gpuSeconds: null,
      };
      try {
        await store.append(
          stream,
          inPool(ctx.pool, [
            {
              type: 'WorkerTerminated',
              data,
              eventId: deterministicId(`${w.workerId}:terminated`),
              metadata: { cycle },
            },
          ]),
        );
      } catch (err) {
        if (hasCode(err, 'EVENT_ID_CONFLICT')) continue; // the reactor recorded its end first
        throw err;
      }
      fact(log, 'error', terminatedLine(data), { cycle, workerId: w.workerId });
      wrote = true;
    }
  }
  return wrote;
}
