import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { keyFromPodName, type PodInfo, type PodStatus, podName, type SpawnRequest } from '../provider';

/**
 * The pure half of the Kubernetes provider: the worker pod built from the operator's template,
 * and what a pod's status means for its worker. No API calls here.
 */

/** The extended resource GPU device plugins advertise (NVIDIA's). */
export const GPU_RESOURCE = 'nvidia.com/gpu';

/** Labels gpu-scaler sets on every worker pod; the first one selects ours when listing. */
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'gpu-scaler';
export const LABEL_WORKER_ID = 'gpu-scaler.io/worker-id';
export const LABEL_IDEMPOTENCY_KEY = 'gpu-scaler.io/idempotency-key';
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

/** What the operator asked for on top of (or instead of) a template file. */
export interface PodShapeSettings {
  image?: string;
  gpuCount?: number;
  nodeSelector?: Record<string, string>;
  tolerations?: NonNullable<V1Pod['spec']>['tolerations'];
  priorityClassName?: string;
  env?: Record<string, string>;
}

/** A checked pod shape: the base every worker pod is made from, and the GPUs each one takes. */
export interface WorkerPodShape {
  base: V1Pod;
  gpuCount: number;
}

const gpuLimitOf = (c: V1Container): string | undefined => c.resources?.limits?.[GPU_RESOURCE];

/**
 * Merges a template (a Pod object, or null for none) with the settings into the base of every
 * worker pod. Throws an Error naming what is wrong and what is allowed: a template that is not a
 * Pod, has no container, restarts its pods, or asks for a GPU count other than K8S_GPU_COUNT.
 */
export function workerPodShape(template: unknown, s: PodShapeSettings): WorkerPodShape {
  const t = (template ?? {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {},
    spec: { containers: [{ name: 'worker' }] },
  }) as V1Pod;
  if (typeof t !== 'object' || Array.isArray(t) || t.kind !== 'Pod') {
    throw new Error(`the pod template must be one object of kind Pod (got ${describeKind(template)})`);
  }
  const base: V1Pod = structuredClone(t);
  const spec = base.spec;
  if (!spec || !Array.isArray(spec.containers) || spec.containers.length === 0) {
    throw new Error('the pod template must have spec.containers with at least one container (the worker)');
  }
  if (spec.restartPolicy && spec.restartPolicy !== 'Never') {
    throw new Error(
      `the pod template's spec.restartPolicy is ${spec.restartPolicy}: only Never is allowed (a worker that dies is a worker that ended, recorded as such)`,
    );
  }
  spec.restartPolicy = 'Never';
  const worker = spec.containers[0];
  if (s.image) worker.image = s.image;
  if (!worker.image) {
    throw new Error('the worker container has no image: set K8S_IMAGE or give the first container an image');
  }
  const inTemplate = gpuLimitOf(worker);
  const fromTemplate = inTemplate === undefined ? undefined : Number(inTemplate);
  if (fromTemplate !== undefined && !(Number.isInteger(fromTemplate) && fromTemplate >= 1)) {
    throw new Error(
      `the pod template's ${GPU_RESOURCE} limit ${JSON.stringify(inTemplate)} is not a whole number >= 1`,
    );
  }
  if (fromTemplate !== undefined && s.gpuCount !== undefined && fromTemplate !== s.gpuCount) {
    throw new Error(
      `the pod template asks for ${GPU_RESOURCE}=${fromTemplate} but K8S_GPU_COUNT=${s.gpuCount}: make them agree or unset one`,
    );
  }
  const gpuCount = s.gpuCount ?? fromTemplate ?? 1;
  const requested = worker.resources?.requests?.[GPU_RESOURCE];
  if (requested !== undefined && Number(requested) !== gpuCount) {
    throw new Error(
      `the pod template requests ${GPU_RESOURCE}=${requested} but its limit is ${gpuCount}: for GPUs a request must equal the limit`,
    );
  }
  worker.resources = {
    ...worker.resources,
    limits: { ...worker.resources?.limits, [GPU_RESOURCE]: String(gpuCount) },
  };
  if (s.nodeSelector) spec.nodeSelector = { ...spec.nodeSelector, ...s.nodeSelector };
  if (s.tolerations?.length) spec.tolerations = [...(spec.tolerations ?? []), ...s.tolerations];
  if (s.priorityClassName) spec.priorityClassName = s.priorityClassName;
  if (s.env) worker.env = mergeEnv(worker.env, s.env);
  base.apiVersion = 'v1';
  base.kind = 'Pod';
  base.metadata = { labels: { ...base.metadata?.labels }, annotations: { ...base.metadata?.annotations } };
  return { base, gpuCount };
}

function describeKind(x: unknown): string {
  if (x === null || typeof x !== 'object') return JSON.stringify(x);
  if (Array.isArray(x)) return 'a list';
  const kind = (x as { kind?: unknown }).kind;
  return kind === undefined ? 'an object with no kind' : `kind ${JSON.stringify(kind)}`;
}

function mergeEnv(env: V1Container['env'], add: Record<string, string>): NonNullable<V1Container['env']> {
  const out = (env ?? []).filter((e) => !(e.name in add));
  for (const [name, value] of Object.entries(add)) out.push({ name, value });
  return out;
}

/** The pod of one spawn: the shape, named from the idempotency key, with our labels and env. */
export function workerPod(shape: WorkerPodShape, namespace: string, req: SpawnRequest): V1Pod {
  const pod: V1Pod = structuredClone(shape.base);
  pod.metadata = {
    ...pod.metadata,
    name: podName(req.idempotencyKey),
    namespace,
    labels: {
      ...pod.metadata?.labels,
      [LABEL_MANAGED_BY]: MANAGED_BY,
      [LABEL_WORKER_ID]: req.workerId,
      [LABEL_IDEMPOTENCY_KEY]: req.idempotencyKey,
    },
  };
  const spec = pod.spec as NonNullable<V1Pod['spec']>;
  spec.containers[0].env = mergeEnv(spec.containers[0].env, { ...req.env, GPU_SCALER_WORKER_ID: req.workerId });
  return pod;
}

/** Why a pending pod is not running, when the scheduler said: no node had room for it. */
export interface Unschedulable {
  reason: string;
  message: string;
}

export function unschedulableOf(pod: V1Pod): Unschedulable | null {
  if (pod.status?.phase !== 'Pending') return null;
  const c = pod.status.conditions?.find((x) => x.type === 'PodScheduled');
  if (c?.status !== 'False' || c.reason !== 'Unschedulable') return null;
  return { reason: c.reason, message: c.message ?? '' };
}

/**
 * A pod's status for its worker: Pending (or Running but not Ready) is starting; Running and Ready
 * is running; Succeeded exited; Failed failed; a pod being deleted is terminated.
 */
export function podStatusOf(pod: V1Pod): PodStatus {
  if (pod.metadata?.deletionTimestamp) return 'terminated';
  switch (pod.status?.phase) {
    case 'Running': {
      const ready = pod.status.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' ? 'running' : 'starting';
    }
    case 'Succeeded':
      return 'exited';
    case 'Failed':
      return 'failed';
    default:
      return 'starting';
  }
}

function exitCodeOf(pod: V1Pod): number | null {
  for (const s of pod.status?.containerStatuses ?? []) {
    const code = s.state?.terminated?.exitCode;
    if (code !== undefined) return code;
  }
  if (pod.status?.phase === 'Succeeded') return 0;
  return null;
}

export function podInfoOf(pod: V1Pod, gpusPerWorker: number): PodInfo {
  const name = pod.metadata?.name ?? '';
  const labels = pod.metadata?.labels ?? {};
  const gpu = gpuLimitOf(pod.spec?.containers?.[0] ?? { name: '' });
  const waiting = unschedulableOf(pod);
  const created = pod.metadata?.creationTimestamp;
  return {
    podId: name,
    name,
    workerId: labels[LABEL_WORKER_ID] ?? null,
    idempotencyKey: labels[LABEL_IDEMPOTENCY_KEY] ?? keyFromPodName(name),
    status: podStatusOf(pod),
    createdAt: created ? new Date(created).toISOString() : new Date(0).toISOString(),
    exitCode: exitCodeOf(pod),
    gpuCount: gpu === undefined ? gpusPerWorker : Number(gpu),
    hourlyCostUsd: null,
    details: {
      phase: pod.status?.phase ?? 'Pending',
      ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
      ...(waiting ? { unschedulable: waiting.message } : {}),
    },
  };
}
