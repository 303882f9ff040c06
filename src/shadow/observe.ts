import { type PoolName, Streams } from '../../events/index';
import type { Clock } from '../clock';
import type { ControlLog } from '../control/log';
import type { PodInfo, Provider } from '../providers/provider';
import type { EventStore } from '../store/event-store';

export interface FleetObserveContext {
  store: EventStore;
  provider: Provider;
  clock: Clock;
  log: ControlLog;
  /** The pool observing (its shadow-fleet stream). */
  pool: PoolName;
}

const ended = (p: PodInfo) => p.status === 'exited' || p.status === 'failed' || p.status === 'terminated';

/** Every pod the provider lists, whoever made it (listAll when it has one). */
export const listEveryPod = (provider: Provider): Promise<PodInfo[]> =>
  provider.listAll ? provider.listAll() : provider.list();

/**
 * Observe, each cycle run in shadow: the provider's pods as listed (whoever manages them: the fleet
 * as it actually is), recorded as FleetObserved. Only a read: nothing is created or deleted. A list
 * that fails is logged and not recorded (shadow-report then has a gap, not a fleet of zero).
 */
export async function observeFleet(ctx: FleetObserveContext, cycle: number): Promise<void> {
  const { store, provider, clock, log } = ctx;
  let pods: PodInfo[];
  try {
    pods = (await listEveryPod(provider)).filter((p) => !ended(p));
  } catch (err) {
    log.log('warning', `shadow: could not list ${provider.name} pods: ${(err as Error).message}`, { cycle });
    return;
  }
  await store.append(Streams.shadowFleet(ctx.pool), [
    {
      type: 'FleetObserved',
      data: {
        at: clock.now().toISOString(),
        cycle,
        pool: ctx.pool,
        provider: provider.name,
        pods: pods.length,
        running: pods.filter((p) => p.status === 'running').length,
        gpus: pods.reduce((n, p) => n + (p.gpuCount ?? provider.gpusPerWorker), 0),
        podIds: pods.map((p) => p.podId).sort(),
      },
      metadata: { cycle },
    },
  ]);
}
