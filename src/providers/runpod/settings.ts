import { z } from 'zod';
import type { Clock } from '../../clock';
import { defineSettings, int, num, splitList } from '../../settings';
import { RUNPOD_DEFAULT_BASE_URL, type RunpodOptions } from './provider';
import { CUDA_VERSION_PATTERN, PERSISTENT_MOUNT_MIN_GB, PORT_PATTERN, RUNPOD_CLOUDS } from './schemas';

/**
 * PROVIDER=runpod settings (spread into ConfigSchema). Each maps to one CreatePodRequest field of
 * RunPod's REST API v2, or to how we call it; the cross-field rules are in checkRunpodSettings,
 * which runs only when RunPod is the provider.
 */
export const RUNPOD_SETTINGS = {
  RUNPOD_API_KEY: z.string().optional(),
  /** http(s); checked in checkRunpodSettings so the message can say what is allowed. */
  RUNPOD_API_URL: z.string().default(RUNPOD_DEFAULT_BASE_URL),
  /** Comma-separated, in order of preference: each is tried in turn (gpu.id). */
  RUNPOD_GPU_TYPE_IDS: z.string().optional(),
  /** gpu.count */
  RUNPOD_GPU_COUNT: int(1).default(1),
  /** image (required unless RUNPOD_TEMPLATE_ID is set) */
  RUNPOD_IMAGE_NAME: z.string().optional(),
  /** templateId */
  RUNPOD_TEMPLATE_ID: z.string().optional(),
  /** cloud; unset: not sent (RunPod's default, SECURE) */
  RUNPOD_CLOUD_TYPE: z.enum(RUNPOD_CLOUDS).optional(),
  /** disk (container disk, GB) */
  RUNPOD_CONTAINER_DISK_GB: int(1).optional(),
  /** mounts.persistent.size (GB, >= 10) */
  RUNPOD_VOLUME_GB: int(0).optional(),
  /** mounts.persistent.path or mounts.network[0].path (default /workspace) */
  RUNPOD_VOLUME_MOUNT_PATH: z.string().optional(),
  /** mounts.network[0].volumeId */
  RUNPOD_NETWORK_VOLUME_ID: z.string().optional(),
  /** env: a JSON object of extra worker environment, e.g. {"HF_HOME":"/workspace/hf"}. */
  RUNPOD_WORKER_ENV: z.string().optional(),
  /** ports: "8888/http,22/tcp" */
  RUNPOD_PORTS: z.string().optional(),
  /** dataCenterIds, one per create, in order of preference */
  RUNPOD_DATA_CENTER_IDS: z.string().optional(),
  /** args (container entrypoint arguments) */
  RUNPOD_ARGS: z.string().optional(),
  /** registry (container registry credential id) */
  RUNPOD_REGISTRY: z.string().optional(),
  /** gpu.allowedCudaVersions: "12.8,12.6" */
  RUNPOD_ALLOWED_CUDA_VERSIONS: z.string().optional(),
  /** gpu.minCudaVersion: "12.1" */
  RUNPOD_MIN_CUDA_VERSION: z.string().optional(),
  /** v1 only: v2 has no such field. Any value but false is a configuration error. */
  RUNPOD_INTERRUPTIBLE: z.string().optional(),
  RUNPOD_MAX_ATTEMPTS: int(1, 20).default(4),
  RUNPOD_BACKOFF_BASE_SEC: num(0).default(0.5),
  RUNPOD_BACKOFF_MAX_SEC: num(0).default(10),
  RUNPOD_MAX_RETRY_AFTER_SEC: num(0).default(60),
  RUNPOD_REQUEST_TIMEOUT_SEC: num(0.1, 600).default(30),
  /**
   * After a create that got no clear answer (timeout, dropped connection, 5xx), the pod is looked
   * for by name in `GET /pods` for this many seconds before a create is sent again: RunPod does not
   * document how soon its list shows a new pod. 0: one look only.
   */
  RUNPOD_LIST_LAG_SEC: num(0, 3600).default(15),
  /**
   * A candidate (GPU type x data center) with no capacity is not tried again for this long; the
   * delay doubles with each failure in a row, up to RUNPOD_CAPACITY_BACKOFF_MAX_SEC, and resets on
   * a success. 0: no backoff.
   */
  RUNPOD_CAPACITY_BACKOFF_BASE_SEC: num(0, 86_400).default(30),
  RUNPOD_CAPACITY_BACKOFF_MAX_SEC: num(0, 86_400).default(600),
  /** The GPU catalog (stock and prices) is read at most once per this many seconds. */
  RUNPOD_CATALOG_TTL_SEC: num(0).default(20),
};

const schema = z.object(RUNPOD_SETTINGS);
export type RunpodSettings = z.infer<typeof schema>;

/** A JSON object of worker env vars ('{"HF_HOME":"/workspace/hf"}'); values become strings. */
function parseWorkerEnv(value: string | undefined): Record<string, string> | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const bad = 'RUNPOD_WORKER_ENV must be a JSON object of strings, e.g. {"KEY":"value"}';
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new Error(bad);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(bad);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (v === null || typeof v === 'object')
      throw new Error(`RUNPOD_WORKER_ENV.${k} must be a string, number or boolean`);
    env[k] = String(v);
  }
  return env;
}

const DEFAULT_MOUNT_PATH = '/workspace';

/** Cross-field rules; run only with PROVIDER=runpod. Each problem names the setting and what is allowed. */
export function checkRunpodSettings(s: RunpodSettings): string[] {
  const problems: string[] = [];
  if (!s.RUNPOD_API_KEY) problems.push('RUNPOD_API_KEY is required with PROVIDER=runpod');
  if (!/^https?:\/\/[^\s/]+/i.test(s.RUNPOD_API_URL)) {
    problems.push(
      `RUNPOD_API_URL=${JSON.stringify(s.RUNPOD_API_URL)} is not allowed: expected an http(s) URL such as ${RUNPOD_DEFAULT_BASE_URL}`,
    );
  }
  if (!s.RUNPOD_IMAGE_NAME && !s.RUNPOD_TEMPLATE_ID) {
    problems.push('RUNPOD_IMAGE_NAME (the worker image) or RUNPOD_TEMPLATE_ID is required with PROVIDER=runpod');
  }
  if (!splitList(s.RUNPOD_GPU_TYPE_IDS)?.length) {
    problems.push(
      'RUNPOD_GPU_TYPE_IDS is required with PROVIDER=runpod: GPU type ids in order of preference, comma-separated',
    );
  }
  try {
    parseWorkerEnv(s.RUNPOD_WORKER_ENV);
  } catch (err) {
    problems.push(`RUNPOD_WORKER_ENV=*** is not allowed: ${(err as Error).message}`);
  }
  for (const p of splitList(s.RUNPOD_PORTS) ?? []) {
    if (!PORT_PATTERN.test(p)) {
      problems.push(
        `RUNPOD_PORTS entry ${JSON.stringify(p)} is not allowed: expected "<port>/http" or "<port>/tcp", e.g. 8888/http`,
      );
    }
  }
  for (const v of [
    ...(splitList(s.RUNPOD_ALLOWED_CUDA_VERSIONS) ?? []),
    ...(s.RUNPOD_MIN_CUDA_VERSION ? [s.RUNPOD_MIN_CUDA_VERSION] : []),
  ]) {
    if (!CUDA_VERSION_PATTERN.test(v))
      problems.push(`CUDA version ${JSON.stringify(v)} is not allowed: expected major.minor, e.g. 12.8`);
  }
  if (splitList(s.RUNPOD_ALLOWED_CUDA_VERSIONS)?.length && s.RUNPOD_MIN_CUDA_VERSION) {
    problems.push(
      'RUNPOD_ALLOWED_CUDA_VERSIONS and RUNPOD_MIN_CUDA_VERSION cannot both be set: RunPod v2 accepts one or the other',
    );
  }
  if (s.RUNPOD_VOLUME_GB !== undefined && s.RUNPOD_NETWORK_VOLUME_ID) {
    problems.push(
      'RUNPOD_VOLUME_GB (a persistent mount) and RUNPOD_NETWORK_VOLUME_ID (a network mount) cannot both be set: a v2 pod has one mount or none',
    );
  }
  if (s.RUNPOD_VOLUME_GB !== undefined && s.RUNPOD_VOLUME_GB < PERSISTENT_MOUNT_MIN_GB) {
    problems.push(
      `RUNPOD_VOLUME_GB=${s.RUNPOD_VOLUME_GB} is not allowed: expected a number >= ${PERSISTENT_MOUNT_MIN_GB} (RunPod's floor for a persistent mount)`,
    );
  }
  if (s.RUNPOD_VOLUME_MOUNT_PATH && s.RUNPOD_VOLUME_GB === undefined && !s.RUNPOD_NETWORK_VOLUME_ID) {
    problems.push(
      'RUNPOD_VOLUME_MOUNT_PATH is set without RUNPOD_VOLUME_GB or RUNPOD_NETWORK_VOLUME_ID: nothing to mount',
    );
  }
  const interruptible = s.RUNPOD_INTERRUPTIBLE?.trim().toLowerCase();
  if (interruptible !== undefined && !['false', '0', 'no'].includes(interruptible)) {
    problems.push(
      'RUNPOD_INTERRUPTIBLE is not allowed: v2 pods have no interruptible flag (RunPod REST v2 offers no spot pods); unset it',
    );
  }
  return problems;
}

/** PROVIDER=runpod: pods on RunPod's REST API v2 (registered in ../registry.ts). */
export const runpodDefinition = defineSettings({
  name: 'runpod',
  settings: RUNPOD_SETTINGS,
  secrets: ['RUNPOD_API_KEY', 'RUNPOD_WORKER_ENV'],
  check: checkRunpodSettings,
  renamed: { RUNPOD_BACKOFF_BASE_MS: 'RUNPOD_BACKOFF_BASE_SEC', RUNPOD_BACKOFF_MAX_MS: 'RUNPOD_BACKOFF_MAX_SEC' },
});

/** RunpodOptions from checked settings (what system.ts's makeProvider calls for PROVIDER=runpod). */
export function runpodOptionsFromConfig(
  s: RunpodSettings,
  clock: Clock,
  log?: (level: 'info' | 'warning', message: string) => void,
): RunpodOptions {
  const path = s.RUNPOD_VOLUME_MOUNT_PATH ?? DEFAULT_MOUNT_PATH;
  return {
    apiKey: s.RUNPOD_API_KEY ?? '',
    baseUrl: s.RUNPOD_API_URL,
    gpuTypeIds: splitList(s.RUNPOD_GPU_TYPE_IDS) ?? [],
    gpuCount: s.RUNPOD_GPU_COUNT,
    image: s.RUNPOD_IMAGE_NAME,
    templateId: s.RUNPOD_TEMPLATE_ID,
    cloud: s.RUNPOD_CLOUD_TYPE,
    dataCenterIds: splitList(s.RUNPOD_DATA_CENTER_IDS),
    env: parseWorkerEnv(s.RUNPOD_WORKER_ENV),
    ports: splitList(s.RUNPOD_PORTS),
    disk: s.RUNPOD_CONTAINER_DISK_GB,
    args: s.RUNPOD_ARGS,
    registry: s.RUNPOD_REGISTRY,
    persistentMount: s.RUNPOD_VOLUME_GB !== undefined ? { size: s.RUNPOD_VOLUME_GB, path } : undefined,
    networkMount: s.RUNPOD_NETWORK_VOLUME_ID ? { volumeId: s.RUNPOD_NETWORK_VOLUME_ID, path } : undefined,
    allowedCudaVersions: splitList(s.RUNPOD_ALLOWED_CUDA_VERSIONS),
    minCudaVersion: s.RUNPOD_MIN_CUDA_VERSION,
    retry: {
      maxAttempts: s.RUNPOD_MAX_ATTEMPTS,
      baseDelayMs: s.RUNPOD_BACKOFF_BASE_SEC * 1000,
      maxDelayMs: s.RUNPOD_BACKOFF_MAX_SEC * 1000,
    },
    maxRetryAfterMs: s.RUNPOD_MAX_RETRY_AFTER_SEC * 1000,
    requestTimeoutMs: s.RUNPOD_REQUEST_TIMEOUT_SEC * 1000,
    catalogTtlMs: s.RUNPOD_CATALOG_TTL_SEC * 1000,
    listLagMs: s.RUNPOD_LIST_LAG_SEC * 1000,
    capacityBackoff: {
      baseMs: s.RUNPOD_CAPACITY_BACKOFF_BASE_SEC * 1000,
      maxMs: Math.max(s.RUNPOD_CAPACITY_BACKOFF_BASE_SEC, s.RUNPOD_CAPACITY_BACKOFF_MAX_SEC) * 1000,
    },
    clock,
    log,
  };
}
