import { z } from 'zod';

/** Environment variables that hold secrets: masked when the configuration is printed. */
export const SECRET_KEYS = ['DATABASE_URL', 'TASKS_DATABASE_URL', 'RUNPOD_API_KEY', 'TASK_COUNT_KEY'] as const;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max = Number.MAX_VALUE) => z.coerce.number().min(min).max(max);
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v));

/** Every setting, its default and what is allowed; parsed from the environment by one schema. */
export const ConfigSchema = z.object({
  DATABASE_URL: z.string().optional(),
  POLL_INTERVAL_SEC: num(0.01, 86400).default(30),
  TASK_SOURCE: z.enum(['tasks-table']).default('tasks-table'),
  TASK_SOURCE_TIMEOUT_SEC: num(0.01, 600).default(10),
  /** A task count above this is absurd and rejected (TaskCountRejected), never acted on. */
  TASK_COUNT_MAX: int(1).default(100000),
  PROVIDER: z.enum(['simulated']).default('simulated'),
  TASKS_PER_GPU: num(0.0001).default(1),
  MIN_ACTIVE_GPUS: int(0).default(0),
  MAX_WORKERS: int(0).default(10),
  MAX_ACTIVE_GPUS: int(0).default(10),
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
