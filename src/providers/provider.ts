/**
 * A GPU provider: where workers run. Each provider is one file behind this interface
 * (simulated.ts now; runpod and local later). Spawning is idempotent by key: a spawn retried with
 * the same key (after a crash between the provider call and its event) returns the existing pod.
 */
export interface SpawnRequest {
  workerId: string;
  /** Stable for one decision and ordinal; carried in the pod's name so the pod can be found again. */
  idempotencyKey: string;
  env?: Record<string, string>;
}

export type PodStatus = 'starting' | 'running' | 'exited' | 'failed' | 'terminated';

export interface PodInfo {
  podId: string;
  name: string;
  workerId: string | null;
  idempotencyKey: string | null;
  status: PodStatus;
  createdAt: string;
  exitCode?: number | null;
  /** True when spawn() found this pod already there instead of creating it. */
  existing?: boolean;
  details?: Record<string, unknown>;
}

export type ProviderErrorKind = 'capacity' | 'auth' | 'rate_limited' | 'error';

/** A provider failure, classified: capacity failures are not worker failures. */
export class ProviderError extends Error {
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

export interface Provider {
  readonly name: string;
  spawn(req: SpawnRequest): Promise<PodInfo>;
  /** Terminates a pod; a pod that is already gone is not an error. */
  terminate(podId: string): Promise<void>;
  /** Every pod of ours (name carries the gpu-scaler prefix). */
  list(): Promise<PodInfo[]>;
  close?(): Promise<void>;
}

export const POD_PREFIX = 'gpu-scaler';
export const podName = (idempotencyKey: string) => `${POD_PREFIX}-${idempotencyKey}`;
export const keyFromPodName = (name: string): string | null =>
  name.startsWith(`${POD_PREFIX}-`) ? name.slice(POD_PREFIX.length + 1) : null;
