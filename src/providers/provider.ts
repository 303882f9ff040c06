import { GpuScalerError } from '../errors';
import type { CapacityBackoffState } from './capacity-backoff';

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
  /**
   * The dearest pod, in USD per hour, this spawn may place (what is left under MAX_HOURLY_COST_USD).
   * A provider that knows prices skips candidates above it; unset means no limit.
   */
  maxHourlyCostUsd?: number;
  /** One line on why this worker is made (its decision), for a provider that can attach it to the pod. */
  why?: string;
  /**
   * Set when this spawn was requested before and never answered (a restart after a crash mid-create):
   * ms since the last recorded step, so a provider whose list can lag behind its creates looks for the
   * pod by name for what is left of its window before creating one.
   */
  unresolvedCreateAgeMs?: number;
  /** Called at each step of an unanswered create (recorded as WorkerSpawnUnclear), before the provider goes on. */
  onStep?: (step: SpawnStep) => Promise<void>;
}

/** A step of a create that went unanswered (see WorkerSpawnUnclear). */
export interface SpawnStep {
  step: 'unanswered' | 'looking' | 'found' | 'not_listed';
  attempt: number;
  lookSec: number;
  detail: string;
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
  /** GPUs this pod has (a provider that does not say: its gpusPerWorker). */
  gpuCount?: number;
  /** What the pod bills, USD per hour, when the provider reports prices; null or absent: unknown. */
  hourlyCostUsd?: number | null;
}

/** What one more worker would take and cost if placed now. */
export interface WorkerQuote {
  gpus: number;
  /** USD per hour of the cheapest candidate that can be placed now; null when prices are unknown. */
  hourlyCostUsd: number | null;
}

/**
 * capacity: nowhere to place the pod now (never a worker failure, never counted by the breaker);
 * auth: the key was refused (401/403); billing: the account cannot pay (402);
 * invalid_request: the provider rejected what we sent as malformed (our bug or the operator's
 * configuration; never retried); api_retired: the API version answered 410 Gone;
 * rate_limited: throttled past what we wait out; error: anything else.
 * auth, billing, invalid_request and api_retired stop spawning until the operator acts.
 */
export type ProviderErrorKind =
  | 'capacity'
  | 'auth'
  | 'billing'
  | 'invalid_request'
  | 'api_retired'
  | 'rate_limited'
  | 'error';

/** A provider failure, classified: capacity failures are not worker failures. */
export class ProviderError extends GpuScalerError {
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    readonly retryAfterMs?: number,
    /** Structured detail for events and `explain` (e.g. `{candidates: [...]}` of a capacity failure); no secrets. */
    readonly details?: Record<string, unknown>,
  ) {
    super('PROVIDER', message);
    this.name = 'ProviderError';
  }
}

declare module '../errors' {
  interface CodedErrors {
    PROVIDER: ProviderError;
  }
}

/** Why a pod still starting has not started, as the provider can tell. */
export interface WhyNotStarted {
  /** True when it waits for room (no node or stock for it): not a worker failure. */
  capacity: boolean;
  message: string;
}

export interface Provider {
  readonly name: string;
  /** GPUs one worker takes: what MIN_ACTIVE_GPUS and MAX_ACTIVE_GPUS count per worker. */
  readonly gpusPerWorker: number;
  /**
   * What one more worker would cost if placed now (a provider with a price catalog reads it at most
   * once a cycle, cached). Absent, or hourlyCostUsd null: prices unknown, MAX_HOURLY_COST_USD cannot
   * be applied and says so.
   */
  quote?(): Promise<WorkerQuote>;
  spawn(req: SpawnRequest): Promise<PodInfo>;
  /**
   * Terminates a pod; a pod that is already gone is not an error. `why`: one line on why, for a
   * provider that can attach it to the pod.
   */
  terminate(podId: string, why?: string): Promise<void>;
  /**
   * Asked when a worker is given up on after SPAWNING_TIMEOUT_SEC: why its pod never started, when
   * the provider can tell (recorded with the termination, so `explain` says it).
   */
  whyNotStarted?(podId: string): Promise<WhyNotStarted | null>;
  /**
   * Parking (optional): stops a pod and keeps it (its GPU is released and no longer billed; its disk,
   * image and downloaded models stay), so unpark() can start it again without a cold start. A pod
   * already stopped is not an error. Providers without stopped pods (Kubernetes) leave both out.
   */
  park?(podId: string, why?: string): Promise<void>;
  /**
   * Starts a parked pod again; resolves to the pod as it is now (starting or running). A pod already
   * started is not an error. A start the provider refuses (its host's GPUs are taken, the pod is
   * gone, it came back without its GPUs) throws a ProviderError: the caller terminates the pod and
   * creates a new one.
   */
  unpark?(podId: string, why?: string): Promise<PodInfo>;
  /** Every pod of ours (name carries the gpu-scaler prefix). */
  list(): Promise<PodInfo[]>;
  /**
   * Every pod the provider lists, whoever made it (shadow mode compares with them, `adopt` takes
   * some over). Absent: list() already lists every pod it can see.
   */
  listAll?(): Promise<PodInfo[]>;
  /**
   * How long after its spawn was requested a pod may still be missing from list() (a list that lags
   * behind creates): until then a worker whose pod is not listed is not taken for lost. Absent: 0.
   */
  readonly listGraceMs?: number;
  /**
   * Set when every placement candidate is backing off after capacity failures (a spawn now would
   * fail at once): until when, and why. The controller then requests no spawn. Absent: never.
   */
  capacityBackoff?(): CapacityBackoffState | null;
  close?(): Promise<void>;
}

const POD_PREFIX = 'gpu-scaler';
export const podName = (idempotencyKey: string) => `${POD_PREFIX}-${idempotencyKey}`;
export const keyFromPodName = (name: string): string | null =>
  name.startsWith(`${POD_PREFIX}-`) ? name.slice(POD_PREFIX.length + 1) : null;
