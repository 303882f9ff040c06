import { inPool, type PoolName, Streams } from '../../../events/index';
import type { Clock } from '../../clock';
import type { PodInfo, Provider } from '../../providers/provider';
import type { EventStore } from '../../store/event-store';
import { type ControlLog, fact } from '../log';
import { orphanLine } from '../messages';

export interface OrphanSweepContext {
  store: EventStore;
  provider: Provider;
  clock: Clock;
  log: ControlLog;
  /** The pool whose controller sweeps (its reconciliation stream); a pod is judged against every pool's workers. */
  pool: PoolName;
}

/**
 * Act, every RECONCILE_EVERY_CYCLES: the provider's pods with our prefix against the workers. A
 * pod no live worker accounts for is an orphan burning money: it is terminated and recorded.
 * (Workers whose pod vanished are found every cycle by syncFleet.)
 */
export async function sweepOrphans(ctx: OrphanSweepContext, cycle: number): Promise<void> {
  const { store, provider, clock, log } = ctx;
  let pods: PodInfo[];
  try {
    pods = await provider.list();
  } catch (err) {
    log.log('warning', `reconciliation: could not list ${provider.name} pods: ${(err as Error).message}`, { cycle });
    return;
  }
  const live = pods.filter((p) => p.status !== 'terminated');
  if (live.length === 0) return;
  // a pod adopted from another orchestrator (`gpu-scaler adopt`) is the worker named as the pod
  const known = await store.reads.workerStatuses(live.map((p) => p.idempotencyKey ?? p.name));
  for (const pod of live) {
    const key = pod.idempotencyKey;
    const adopted = key ? undefined : known.get(pod.name);
    if (adopted && adopted !== 'terminated' && adopted !== 'failed') continue;
    const status = key ? known.get(key) : undefined;
    if (status && status !== 'terminated' && status !== 'failed') continue;
    // The projection may lag a reactor that just asked for this pod: the worker's own stream decides.
    if (key && !status) {
      const history = await store.readStream(Streams.worker(key));
      const ended = history.some((h) => h.type === 'WorkerTerminated' || h.type === 'WorkerSpawnFailed');
      if (history.length > 0 && !ended) continue;
    }
    const reason = status
      ? `its worker ${key} is ${status}`
      : key
        ? `no worker ${key} was ever requested`
        : 'its name carries no idempotency key';
    await provider.terminate(pod.podId);
    const data = {
      at: clock.now().toISOString(),
      cycle,
      provider: provider.name,
      podId: pod.podId,
      name: pod.name,
      idempotencyKey: key,
      reason,
    };
    await store.append(
      Streams.reconciliation(ctx.pool),
      inPool(ctx.pool, [{ type: 'OrphanPodTerminated', data, metadata: { cycle } }]),
    );
    fact(log, 'crit', orphanLine({ ...data, pool: ctx.pool }), { cycle });
  }
}
