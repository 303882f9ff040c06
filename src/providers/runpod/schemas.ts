import { z } from 'zod';

/**
 * RunPod REST API v2 shapes (https://api.runpod.io/v2, OpenAPI 3.1 as published in runpod/docs
 * api-reference-v2/openapi.json). Requests are typed exactly as the spec names them (CreatePodRequest
 * has unevaluatedProperties: false, so a field it does not name is refused); answers are read
 * loosely: only the fields we use, any others allowed.
 */

export const RUNPOD_CLOUDS = ['SECURE', 'COMMUNITY'] as const;
export type RunpodCloud = (typeof RUNPOD_CLOUDS)[number];

/** components.schemas.CreatePodRequest, the GPU-pod subset we send. */
export interface CreatePodRequest {
  name: string;
  /** Required unless templateId is set. */
  image?: string;
  templateId?: string;
  /** Default SECURE. */
  cloud?: RunpodCloud;
  dataCenterIds?: string[];
  gpu: CreateGpuConfig;
  env?: Record<string, string>;
  /** "8888/http", "22/tcp". */
  ports?: string[];
  /** Container disk in GB, minimum 1. */
  disk?: number;
  args?: string;
  /** Registry credential id (private images). */
  registry?: string;
  /** At most one of persistent or network (400 otherwise). */
  mounts?: { persistent: PersistentMount } | { network: NetworkMount[] };
}

/** CreateGpuConfig: GpuConfig plus the CUDA constraints (allowed and min never both). */
interface CreateGpuConfig {
  id: string;
  count: number;
  allowedCudaVersions?: string[];
  minCudaVersion?: string;
}

/** size >= 10 (GB). */
export interface PersistentMount {
  size: number;
  path: string;
}

export interface NetworkMount {
  volumeId: string;
  path: string;
}

/** "<port>/<protocol>", protocol http or tcp. */
export const PORT_PATTERN = /^\d{1,5}\/(http|tcp)$/;
/** CreateGpuConfig's pattern for a CUDA version: "major.minor". */
export const CUDA_VERSION_PATTERN = /^\d+\.\d+$/;
/** PersistentMount.size minimum. */
export const PERSISTENT_MOUNT_MIN_GB = 10;
/** Kept from v1's limit; v2 names no maximum, and our names are far shorter. */
export const POD_NAME_MAX_LENGTH = 191;

/** components.schemas.Pod, the parts we read. */
export const RunpodPodSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string().nullish(),
  /** PodStatus (PROVISIONING, STARTING, RUNNING, EXITED, ERROR, TERMINATED): any string, so a new state does not break list(). */
  status: z.string().min(1),
  image: z.string().nullish(),
  env: z.record(z.string(), z.unknown()).nullish(),
  gpu: z.looseObject({ id: z.string().nullish(), count: z.number().nullish() }).nullish(),
  cloud: z.string().nullish(),
  dataCenterId: z.string().nullish(),
  /** What the pod bills, USD per hour (0 while unknown). */
  cost: z.number().nullish(),
  createdAt: z.string().nullish(),
  startedAt: z.string().nullish(),
});
export type RunpodPod = z.infer<typeof RunpodPodSchema>;

/**
 * components.schemas.ListPodsResponse: `{"pods": [...]}`. The spec shows no paging today; a
 * `nextCursor` (or `cursor`) here, or a Link rel="next" header, is followed if it ever appears.
 */
export const RunpodPodListSchema = z.looseObject({
  pods: z.array(RunpodPodSchema),
  nextCursor: z.string().nullish(),
  cursor: z.string().nullish(),
});

/** components.schemas.GpuType, the parts we read (with include=AVAILABILITY&product=POD). */
const RunpodGpuTypeSchema = z.looseObject({
  id: z.string(),
  /** Per GPU per hour, per cloud. */
  price: z.looseObject({ secure: z.number().nullish(), community: z.number().nullish() }).nullish(),
  availability: z.string().nullish(),
  /** Omitted entirely when the configuration is unavailable everywhere. */
  dataCenters: z.array(z.looseObject({ id: z.string(), availability: z.string() })).nullish(),
});
export type RunpodGpuType = z.infer<typeof RunpodGpuTypeSchema>;

/** components.schemas.ListGpuTypesResponse. */
export const RunpodGpuCatalogSchema = z.looseObject({ gpus: z.array(RunpodGpuTypeSchema) });
