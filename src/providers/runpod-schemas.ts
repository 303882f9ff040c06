import { z } from 'zod';

/**
 * RunPod REST API v1 shapes (https://rest.runpod.io/v1, OpenAPI 3.0.3 "Runpod API" 0.1.0, as published
 * in runpod/docs api-reference/openapi.json). Only the fields this client sends or reads are
 * described; responses may carry any other fields (loose objects).
 */

/**
 * The body of `POST /pods` (components.schemas.PodCreateInput), limited to the fields we send. The
 * spec marks no field as required; every name below is spelled as in the spec.
 */
export interface RunpodPodCreateInput {
  name: string;
  imageName: string;
  /** Ordered: "The order of the list determines the order to rent GPU types". We send one at a time. */
  gpuTypeIds: string[];
  /** integer, minimum 1, default 1. */
  gpuCount: number;
  /** enum SECURE | COMMUNITY, default SECURE. */
  cloudType?: RunpodCloudType;
  /** integer, nullable, default 50. */
  containerDiskInGb?: number;
  /** integer, nullable, default 20. */
  volumeInGb?: number;
  /** default "/workspace". */
  volumeMountPath?: string;
  networkVolumeId?: string;
  /** "type": "object" with string items: environment variables, values as strings. */
  env: Record<string, string>;
  /** "[port number]/[protocol]", protocol http or tcp; default "8888/http,22/tcp". */
  ports?: string[];
  /** Data center ids such as "EU-RO-1". */
  dataCenterIds?: string[];
  /** boolean, default false: a spot pod. */
  interruptible?: boolean;
}

export const RUNPOD_CLOUD_TYPES = ['SECURE', 'COMMUNITY'] as const;
export type RunpodCloudType = (typeof RUNPOD_CLOUD_TYPES)[number];

/** Pod.desiredStatus, and the desiredStatus filter of `GET /pods`: RUNNING | EXITED | TERMINATED. */
export const RUNPOD_DESIRED_STATUSES = ['RUNNING', 'EXITED', 'TERMINATED'] as const;

/** "[port number]/[protocol]. Protocol can be either http or tcp." */
export const PORT_PATTERN = /^\d{1,5}\/(http|tcp)$/;

/** The spec's maxLength for a pod's name (and for the `name` filter of `GET /pods`). */
export const POD_NAME_MAX_LENGTH = 191;

/**
 * components.schemas.Pod, the parts we read. Types are the spec's, loosened where the spec itself
 * disagrees with its examples or with answers seen in practice:
 * - desiredStatus is an enum in the spec; any string is accepted so a new state does not break
 *   list() (unknown states map to 'starting', see podStatusOf in runpod.ts).
 * - costPerHr is "type": "number" with example "0.74" (a string): both accepted.
 * - createdAt and imageName are NOT in the spec's Pod (it has `image` and `lastStartedAt`) but are
 *   returned in practice: read when present, never required.
 */
export const RunpodPodSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string().nullish(),
  desiredStatus: z.string().min(1),
  image: z.string().nullish(),
  imageName: z.string().nullish(),
  env: z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).nullish(),
  gpu: z.looseObject({ id: z.string().nullish(), count: z.number().nullish() }).nullish(),
  costPerHr: z.union([z.number(), z.string()]).nullish(),
  machineId: z.string().nullish(),
  /** "If the Pod is still initializing, this IP is not yet determined and will be empty." */
  publicIp: z.string().nullish(),
  /** "If the Pod is still initializing, this mapping is not yet determined and will be empty." */
  portMappings: z.record(z.string(), z.unknown()).nullish(),
  lastStartedAt: z.string().nullish(),
  createdAt: z.string().nullish(),
  interruptible: z.boolean().nullish(),
});
export type RunpodPod = z.infer<typeof RunpodPodSchema>;

/** components.schemas.Pods: a bare array of Pod (the answer of `GET /pods`). */
export const RunpodPodsSchema = z.array(RunpodPodSchema);

/**
 * An error body. The spec defines none; v1 answers `{"error": "..."}` in practice, v2 (and some
 * gateways) `{"detail": ...}` or `{"message": ...}`. Read whichever is there.
 */
export const RunpodErrorBodySchema = z.looseObject({
  error: z.unknown().optional(),
  message: z.unknown().optional(),
  detail: z.unknown().optional(),
  errors: z.unknown().optional(),
});
