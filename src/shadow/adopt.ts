import type { NewDataOf } from '../../events/index';
import { DEFAULT_POOL } from '../../events/shadow';
import { keyFromPodName, type PodInfo } from '../providers/provider';

export interface AdoptionPlan {
  /** The WorkerAdopted of each pod to take over. */
  adopt: NewDataOf<'WorkerAdopted'>[];
  /** Pods with the prefix left as they are, and why. */
  skipped: { name: string; podId: string; why: string }[];
}

/**
 * Which listed pods `adopt --name-prefix P` takes over, pure: pods whose name starts with P, that
 * are not gpu-scaler's own (no gpu-scaler name), are starting or running, and are not a worker
 * already. Each becomes the worker named as its pod (the name is how the fleet and the orphan sweep
 * find it again); a name listed twice is taken once, for its first pod.
 */
export function planAdoption(
  pods: readonly PodInfo[],
  o: {
    namePrefix: string;
    provider: string;
    by: string;
    at: string;
    gpusPerWorker: number;
    liveWorkers: ReadonlySet<string>;
  },
): AdoptionPlan {
  const plan: AdoptionPlan = { adopt: [], skipped: [] };
  const names = new Set<string>();
  for (const p of pods) {
    if (!p.name.startsWith(o.namePrefix)) continue;
    const skip = (why: string) => plan.skipped.push({ name: p.name, podId: p.podId, why });
    if (keyFromPodName(p.name) !== null) skip('a gpu-scaler pod: it is ours already (or an orphan the sweep ends)');
    else if (p.status !== 'starting' && p.status !== 'running') skip(`it is ${p.status}`);
    else if (o.liveWorkers.has(p.name)) skip(`already worker ${p.name}`);
    else if (names.has(p.name)) skip(`another pod listed with the same name was taken`);
    else {
      names.add(p.name);
      plan.adopt.push({
        workerId: p.name,
        at: o.at,
        pool: DEFAULT_POOL,
        provider: o.provider,
        podId: p.podId,
        name: p.name,
        podStatus: p.status,
        gpuCount: p.gpuCount ?? o.gpusPerWorker,
        hourlyCostUsd: p.hourlyCostUsd ?? null,
        namePrefix: o.namePrefix,
        by: o.by,
      });
    }
  }
  return plan;
}
