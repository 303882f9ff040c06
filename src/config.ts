import { z } from 'zod';
import { parseLocalGpus } from './providers/local';
import { parseWorkerEnv, splitList } from './providers/runpod';

/** Environment variables that hold secrets: masked when the configuration is printed. */
export const SECRET_KEYS = [
  'DATABASE_URL',
  'TASKS_DATABASE_URL',
  'RUNPOD_API_KEY',
  'TASK_COUNT_KEY',
  'RUNPOD_WORKER_ENV',
] as const;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max = Number.MAX_VALUE) => z.coerce.number().min(min).max(max);
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v));

/** Every setting, its default and what is allowed; parsed from the environment by one schema. */
export const ConfigSchema = z.object({
  DATABASE_URL: z.string().optional(),
  POLL_INTERVAL_SEC: num(0.01, 86400).default(30),
  TASK_SOURCE: z.enum(['tasks-table', 'http', 'sql']).default('tasks-table'),
  /** http: the edge function (POST or GET) that answers with the counts. */
  TASK_COUNT_URL: z.url().optional(),
  TASK_COUNT_KEY: z.string().optional(),
  TASK_COUNT_METHOD: z.enum(['POST', 'GET']).default('POST'),
  TASK_COUNT_BODY: z
    .string()
    .refine((s) => {
      try {
        JSON.parse(s);
        return true;
      } catch {
        return false;
      }
    }, 'valid JSON')
    .default('{"run_type":"gpu"}'),
  TASK_COUNT_QUEUED_PATH: z.string().default('totals.queued_only'),
  TASK_COUNT_ACTIVE_PATH: z.string().default('totals.active_only'),
  TASK_COUNT_WORKERS_PATH: z.string().optional(),
  /** sql: a query returning one row with columns queued and active (read-only, with a timeout). */
  TASK_COUNT_SQL: z.string().optional(),
  /** sql: the database to run TASK_COUNT_SQL against (default: the store's own). */
  TASKS_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//i, 'a postgres:// URL')
    .optional(),
  TASK_SOURCE_TIMEOUT_SEC: num(0.01, 600).default(10),
  /** A task count above this is absurd and rejected (TaskCountRejected), never acted on. */
  TASK_COUNT_MAX: int(1).default(100000),
  PROVIDER: z.enum(['simulated', 'runpod', 'local']).default('simulated'),
  /** local: the shell command that runs one worker (it gets GPU_SCALER_WORKER_ID and CUDA_VISIBLE_DEVICES). */
  WORKER_COMMAND: z.string().optional(),
  /** local: GPUs to hand out, one per worker ("0,1,2,3"); never more workers than GPUs. */
  LOCAL_GPUS: z.string().optional(),
  LOCAL_MAX_WORKERS: int(1).default(1),
  LOCAL_TERMINATE_GRACE_SEC: num(0).default(10),
  LOCAL_WORKER_LOG_DIR: z.string().default('./.gpu-scaler/workers'),
  RUNPOD_API_KEY: z.string().optional(),
  RUNPOD_API_URL: z.string().url().default('https://rest.runpod.io/v1'),
  /** Comma-separated, in order of preference: no capacity for one, the next is tried. */
  RUNPOD_GPU_TYPE_IDS: z.string().optional(),
  RUNPOD_GPU_COUNT: int(1).default(1),
  RUNPOD_IMAGE_NAME: z.string().optional(),
  RUNPOD_CLOUD_TYPE: z.enum(['SECURE', 'COMMUNITY']).default('SECURE'),
  RUNPOD_CONTAINER_DISK_GB: int(0).optional(),
  RUNPOD_VOLUME_GB: int(0).optional(),
  RUNPOD_VOLUME_MOUNT_PATH: z.string().optional(),
  RUNPOD_NETWORK_VOLUME_ID: z.string().optional(),
  /** A JSON object of extra worker environment, e.g. {"HF_HOME":"/workspace/hf"}. */
  RUNPOD_WORKER_ENV: z.string().optional(),
  /** "8888/http,22/tcp" */
  RUNPOD_PORTS: z.string().optional(),
  RUNPOD_DATA_CENTER_IDS: z.string().optional(),
  RUNPOD_INTERRUPTIBLE: bool.default(false),
  RUNPOD_MAX_ATTEMPTS: int(1, 20).default(4),
  RUNPOD_BACKOFF_BASE_MS: int(0).default(500),
  RUNPOD_BACKOFF_MAX_MS: int(0).default(10000),
  RUNPOD_MAX_RETRY_AFTER_SEC: num(0).default(60),
  RUNPOD_REQUEST_TIMEOUT_SEC: num(0.1, 600).default(30),
  TASKS_PER_GPU: num(0.0001).default(1),
  MIN_ACTIVE_GPUS: int(0).default(0),
  MAX_WORKERS: int(0).default(10),
  MAX_ACTIVE_GPUS: int(0).default(10),
  /** A cap on the fleet's burn rate, USD per hour (live workers at their prices + new ones at the quote); unset = off. */
  MAX_HOURLY_COST_USD: num(0).optional(),
  MACHINES_TO_KEEP_IDLE: int(0).default(0),
  GPU_IDLE_TIMEOUT_SEC: num(0).default(300),
  SPAWNING_TIMEOUT_SEC: num(1).default(600),
  /** A hard cap on a worker's life; unset = none. */
  WORKER_MAX_LIFETIME_SEC: num(1).optional(),
  /** Compare the provider's pods with the workers every this many cycles (orphans are terminated). */
  RECONCILE_EVERY_CYCLES: int(1).default(10),
  CIRCUIT_BREAKER_WINDOW_SEC: num(1).default(300),
  CIRCUIT_BREAKER_MIN_SPAWNS: int(1).default(5),
  CIRCUIT_BREAKER_FAILURE_RATIO: num(0, 1).default(0.8),
  /** A decision older than this when the reactor reaches it spawns nothing new. */
  DECISION_STALE_SEC: num(1).optional(),
  ANOMALY_RAPID_SCALE_UP_WORKERS: int(1).default(3),
  ANOMALY_SPIKE_FACTOR: num(1).default(10),
  ANOMALY_FROM_NOWHERE_TASKS: int(0).default(10),
  ANOMALY_SLOW_SOURCE_MS: num(0).default(5000),
  HEALTH_CHECK_EVERY_CYCLES: int(1).default(10),
  HEALTH_SUMMARY_EVERY_CYCLES: int(1).default(20),
  LOG_FORMAT: z.enum(['pretty', 'json']).optional(),
  LOG_LEVEL: z.enum(['emerg', 'alert', 'crit', 'error', 'warning', 'notice', 'info', 'debug']).default('info'),
  LOG_FILE: z.string().default('orchestrator.log'),
  DB_LOGGING: bool.default(true),
  DB_LOGGING_REQUIRED: bool.default(false),
  DB_LOGGING_ERRORS_FILE: z.string().default('db_logging_errors.log'),
  SIM_STARTUP_MIN_SEC: num(0).default(5),
  SIM_STARTUP_MAX_SEC: num(0).default(20),
  SIM_FAILURE_RATE: num(0, 1).default(0.05),
  SIM_TASK_SEC: num(0).default(20),
  SIM_SEED: int(0).default(42),
  /** The simulated provider's price per GPU-hour in USD (unset: prices unknown). */
  SIM_GPU_HOURLY_USD: num(0).optional(),
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function allowed(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `one of ${(issue.values as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return `a number >= ${issue.minimum}`;
    case 'too_big':
      return `a number <= ${issue.maximum}`;
    case 'invalid_type':
      return issue.expected === 'int' ? 'a whole number' : `a ${issue.expected}`;
    default:
      return issue.message;
  }
}

/**
 * Parses the configuration from environment variables (empty values count as unset), with
 * `overrides` (from flags) taking precedence. A bad value names the variable, the value and what
 * is allowed.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Config> = {},
): Config {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v.trim() !== '') input[key] = v.trim();
  }
  const res = ConfigSchema.safeParse({ ...input, ...overrides });
  if (!res.success) {
    throw new ConfigError(
      res.error.issues.map((i) => {
        const key = String(i.path[0]);
        const value = (overrides as Record<string, unknown>)[key] ?? input[key];
        const shown = (SECRET_KEYS as readonly string[]).includes(key) ? '***' : JSON.stringify(value);
        return `${key}=${shown} is not allowed: expected ${allowed(i)}`;
      }),
    );
  }
  const cfg = res.data;
  const problems: string[] = [];
  if (cfg.PROVIDER === 'runpod') {
    if (!cfg.RUNPOD_API_KEY) problems.push('RUNPOD_API_KEY is required with PROVIDER=runpod');
    if (!cfg.RUNPOD_IMAGE_NAME) problems.push('RUNPOD_IMAGE_NAME is required with PROVIDER=runpod (the worker image)');
    if (!splitList(cfg.RUNPOD_GPU_TYPE_IDS)?.length) {
      problems.push(
        'RUNPOD_GPU_TYPE_IDS is required with PROVIDER=runpod: GPU type ids in order of preference, comma-separated',
      );
    }
    try {
      parseWorkerEnv(cfg.RUNPOD_WORKER_ENV);
    } catch (err) {
      problems.push(`RUNPOD_WORKER_ENV=*** is not allowed: ${(err as Error).message}`);
    }
  }
  if (cfg.TASK_SOURCE === 'http' && !cfg.TASK_COUNT_URL)
    problems.push('TASK_COUNT_URL is required with TASK_SOURCE=http');
  if (cfg.TASK_SOURCE === 'sql' && !cfg.TASK_COUNT_SQL)
    problems.push('TASK_COUNT_SQL is required with TASK_SOURCE=sql');
  if (cfg.PROVIDER === 'local' && !cfg.WORKER_COMMAND) problems.push('WORKER_COMMAND is required with PROVIDER=local');
  try {
    parseLocalGpus(cfg.LOCAL_GPUS);
  } catch (err) {
    problems.push(`LOCAL_GPUS=${JSON.stringify(cfg.LOCAL_GPUS)} is not allowed: ${(err as Error).message}`);
  }
  if (cfg.MIN_ACTIVE_GPUS > cfg.MAX_ACTIVE_GPUS) {
    problems.push(
      `MIN_ACTIVE_GPUS=${cfg.MIN_ACTIVE_GPUS} is not allowed: expected a number of GPUs <= MAX_ACTIVE_GPUS (${cfg.MAX_ACTIVE_GPUS}), the hard budget`,
    );
  }
  if (problems.length) throw new ConfigError(problems);
  if (cfg.SIM_STARTUP_MAX_SEC < cfg.SIM_STARTUP_MIN_SEC) {
    throw new ConfigError([
      `SIM_STARTUP_MAX_SEC=${cfg.SIM_STARTUP_MAX_SEC} is not allowed: expected a number >= SIM_STARTUP_MIN_SEC (${cfg.SIM_STARTUP_MIN_SEC})`,
    ]);
  }
  return cfg;
}

/** The effective configuration as printable lines, secrets masked. */
export function describeConfig(cfg: Config): string[] {
  return Object.entries(cfg).map(([k, v]) => {
    const secret = (SECRET_KEYS as readonly string[]).includes(k);
    const shown = v === undefined ? '(unset)' : secret ? maskSecret(String(v)) : String(v);
    return `${k}=${shown}`;
  });
}

function maskSecret(v: string): string {
  // keep the scheme and host of a URL, hide credentials
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^@/]*@)?([^/?#]*)/i.exec(v);
  if (m) return `${m[1]}***@${m[2]}/***`;
  return v.length ? '***' : '';
}
