import { z } from 'zod';
import { Mode } from '../events/shadow';
import { GpuScalerError } from './errors';
import { LOG_LEVEL_NAMES } from './logging/levels';
import { secretValues, unsafeSecretReason } from './logging/redact';
import { DEFAULT_POLICY, POLICY_NAMES, POLICY_SETTING_KEYS, POLICY_SETTINGS, policyNamed } from './policies/index';
import { PROVIDERS } from './providers/registry';
import { bool, int, num, type SettingsBlock } from './settings';
import { SOURCES } from './sources/index';

type Merge<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type SettingsOf<T extends Record<string, SettingsBlock>> = Merge<T[keyof T]['settings']>;

type ProviderName = keyof typeof PROVIDERS;
type SourceName = keyof typeof SOURCES;
const PROVIDER_NAMES = Object.keys(PROVIDERS) as [ProviderName, ...ProviderName[]];
const SOURCE_NAMES = Object.keys(SOURCES) as [SourceName, ...SourceName[]];
/** PROVIDER and TASK_SOURCE when unset: the first of each list. */
const DEFAULT_PROVIDER = PROVIDER_NAMES[0];
const DEFAULT_SOURCE = SOURCE_NAMES[0];

const settingsOf = (defs: readonly SettingsBlock[]) => Object.assign({}, ...defs.map((d) => d.settings));

/** Every source's settings, spread after TASK_SOURCE. */
const SOURCE_SETTINGS = settingsOf(Object.values(SOURCES)) as SettingsOf<typeof SOURCES>;
/**
 * The providers' settings: the real providers' after PROVIDER, the default (simulated) one's at
 * the end, where the effective configuration has always printed them.
 */
const PROVIDER_SETTINGS = settingsOf(Object.values(PROVIDERS).filter((p) => p.name !== DEFAULT_PROVIDER)) as SettingsOf<
  typeof PROVIDERS
>;
// (its types are in PROVIDER_SETTINGS' already)
const DEFAULT_PROVIDER_SETTINGS = PROVIDERS[DEFAULT_PROVIDER].settings as Record<never, never>;

/** Environment variables of our own that hold secrets (the providers' and sources' are in their definitions). */
const CORE_SECRET_KEYS = [
  'DATABASE_URL',
  'READ_DATABASE_URL',
  'MIGRATE_DATABASE_URL',
  'HTTP_TOKEN',
  'ALERT_WEBHOOK_URL',
] as const;

/** Every setting that holds a secret: masked when the configuration is printed, never written in a configuration file. */
export const SECRET_KEYS: readonly string[] = [
  ...CORE_SECRET_KEYS,
  ...[...Object.values(SOURCES), ...Object.values(PROVIDERS)].flatMap((d): readonly string[] => d.secrets),
];

/**
 * The secret values of a configuration or of the environment: the one list the logs, system_logs,
 * the event store and errors redact.
 */
export const secretsOf = (settings: Record<string, unknown>): string[] => secretValues(settings, SECRET_KEYS);

/** Whether a setting holds a secret (its value is never shown or recorded). */
export const isSecretSetting = (key: string): boolean => SECRET_KEYS.includes(key);

/** Every setting, its default and what is allowed; parsed from the environment by one schema. */
export const ConfigSchema = z.object({
  DATABASE_URL: z.string().optional(),
  POLL_INTERVAL_SEC: num(0.01, 86400).default(30),
  /** active: act on decisions; shadow: decide and record intended actions, never create or delete a pod (docs/shadow-mode.md). */
  MODE: Mode.default('active'),
  TASK_SOURCE: z.enum(SOURCE_NAMES).default(DEFAULT_SOURCE),
  ...SOURCE_SETTINGS,
  TASK_SOURCE_TIMEOUT_SEC: num(0.01, 600).default(10),
  /** A task count above this is absurd and rejected (TaskCountRejected), never acted on. */
  TASK_COUNT_MAX: int(1).default(100000),
  /**
   * After this many cycles in a row without a valid task count (the source failed, timed out or was
   * rejected), the fleet is held as it is, or goes to FALLBACK_WORKERS when set (docs/failing-source.md).
   */
  SOURCE_FAILURE_CYCLES: int(1).default(3),
  /** The workers to go to while the task source is failing (as KEDA's fallback replicas); unset = hold the fleet. */
  FALLBACK_WORKERS: int(0).optional(),
  PROVIDER: z.enum(PROVIDER_NAMES).default(DEFAULT_PROVIDER),
  ...PROVIDER_SETTINGS,
  /** Which policy decides the desired count (src/policies); its settings are validated only when chosen. */
  POLICY: z.enum(POLICY_NAMES).default(DEFAULT_POLICY),
  ...POLICY_SETTINGS,
  MAX_WORKERS: int(0).default(10),
  MAX_ACTIVE_GPUS: int(0).default(10),
  /** A cap on the fleet's burn rate, USD per hour (live workers at their prices + new ones at the quote); unset = off. */
  MAX_HOURLY_COST_USD: num(0).optional(),
  /** A pool's priority under the global caps: higher is served first (docs/pools.md). */
  PRIORITY: int(-1000000).default(0),
  /** A cap on the GPUs of every pool together (top level only); unset = none. */
  GLOBAL_MAX_ACTIVE_GPUS: int(0).optional(),
  /** A cap on the burn rate of every pool together, USD per hour (top level only); unset = none. */
  GLOBAL_MAX_HOURLY_COST_USD: num(0).optional(),
  GPU_IDLE_TIMEOUT_SEC: num(0).default(300),
  SPAWNING_TIMEOUT_SEC: num(1).default(600),
  /** A hard cap on a worker's life; unset = none. */
  WORKER_MAX_LIFETIME_SEC: num(1).optional(),
  // Parked pods (docs/parked-pods.md): core, not per provider, since the reactor parks and unparks
  // through any provider that has park/unpark (RunPod, simulated, local; not Kubernetes).
  /** At most this many idle workers are parked (stopped, disk kept) instead of terminated; 0 = never park. */
  PARKED_MAX: int(0).default(0),
  /** A pod parked longer than this is terminated (12 h by default). */
  PARKED_MAX_AGE_SEC: num(1).default(43200),
  /** What one parked pod bills per hour (its disk), USD; unset: unknown (shown as such). */
  PARKED_HOURLY_USD: num(0).optional(),
  /** Compare the provider's pods with the workers every this many cycles (orphans are terminated). */
  RECONCILE_EVERY_CYCLES: int(1).default(10),
  CIRCUIT_BREAKER_WINDOW_SEC: num(1).default(300),
  CIRCUIT_BREAKER_MIN_SPAWNS: int(1).default(5),
  CIRCUIT_BREAKER_FAILURE_RATIO: num(0, 1).default(0.8),
  /**
   * While spawning is stopped by a provider refusal (auth, billing, invalid request, retired API), the
   * provider is probed with a read (its list of pods) every this many cycles; spawning resumes when it succeeds.
   */
  PROVIDER_PROBE_EVERY_CYCLES: int(1).default(3),
  /** A decision older than this when the reactor reaches it spawns nothing new (unset: see decisionStaleSec). */
  DECISION_STALE_SEC: num(1).optional(),
  ANOMALY_RAPID_SCALE_UP_WORKERS: int(1).default(3),
  ANOMALY_SPIKE_FACTOR: num(1).default(10),
  ANOMALY_FROM_NOWHERE_TASKS: int(0).default(10),
  ANOMALY_SLOW_SOURCE_SEC: num(0).default(5),
  HEALTH_CHECK_EVERY_CYCLES: int(1).default(10),
  HEALTH_SUMMARY_EVERY_CYCLES: int(1).default(20),
  LOG_FORMAT: z.enum(['pretty', 'json']).default('pretty'),
  LOG_LEVEL: z.enum(LOG_LEVEL_NAMES).default('info'),
  LOG_FILE: z.string().default('orchestrator.log'),
  DB_LOGGING: bool.default(true),
  DB_LOGGING_REQUIRED: bool.default(false),
  DB_LOGGING_ERRORS_FILE: z.string().default('db_logging_errors.log'),
  /** system_logs rows older than this are deleted (in small batches, off the cycle's path). */
  SYSTEM_LOGS_RETENTION_DAYS: num(0.0001).default(30),
  /** The HTTP endpoint (/healthz, /readyz, /metrics, the dashboard): its port (0: any free port) and address. */
  HTTP_PORT: int(0, 65535).default(9464),
  HTTP_HOST: z.string().default('127.0.0.1'),
  /** A bearer token required on everything but /healthz; unset = none. */
  HTTP_TOKEN: z.string().optional(),
  /** A Slack-compatible incoming webhook that alerts are posted to; unset = no alerts. */
  ALERT_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Repeats of the same alert within this many seconds of the last one sent are grouped into the next. */
  ALERT_GROUP_WINDOW_SEC: num(0).default(600),
  ...DEFAULT_PROVIDER_SETTINGS,
});

export type Config = z.infer<typeof ConfigSchema>;

export type SettingKey = keyof typeof ConfigSchema.shape;
type Key = SettingKey;

/** How old a decision may be when the reactor reaches it: DECISION_STALE_SEC, else 4 cycles and at least 2 minutes. */
export const decisionStaleSec = (cfg: Config): number =>
  cfg.DECISION_STALE_SEC ?? Math.max(120, cfg.POLL_INTERVAL_SEC * 4);

/**
 * Settings that were in milliseconds: durations are seconds (`_SEC`) everywhere. The old name is a
 * configuration error naming the new one and the value in seconds, so no deployment silently
 * loses its setting (an alias would keep two names for one fact).
 */
export const RENAMED_TO_SEC: Record<string, Key> = {
  // a provider's or a source's own, declared in its definition
  ...(Object.assign(
    {},
    ...[...Object.values(PROVIDERS), ...Object.values(SOURCES)].map((d) => d.renamed ?? {}),
  ) as Record<string, Key>),
  ANOMALY_SLOW_SOURCE_MS: 'ANOMALY_SLOW_SOURCE_SEC',
};

/** The settings of the sources, providers and policies other than the ones these (raw) values choose. */
function settingsNotInUse(source: unknown, provider: unknown, policy: unknown): Set<string> {
  const unused = new Set<string>();
  for (const def of [...Object.values(SOURCES), ...Object.values(PROVIDERS)]) {
    if (def.name === source || def.name === provider) continue;
    for (const key of Object.keys(def.settings)) unused.add(key);
  }
  const inUse = POLICY_SETTING_KEYS[String(policy)] ?? [];
  for (const [name, keys] of Object.entries(POLICY_SETTING_KEYS)) {
    if (name === policy) continue;
    for (const key of keys) if (!inUse.includes(key)) unused.add(key);
  }
  return unused;
}

/**
 * With POLICY unset, settings of a policy other than the default: the deployment was configured for
 * that policy (the operators' TASKS_PER_GPU, MIN_ACTIVE_GPUS, MACHINES_TO_KEEP_IDLE were the only
 * rule before POLICY existed), so running the default would silently drop them. A configuration
 * error names the policy to set instead.
 */
function settingsWithoutTheirPolicy(input: Record<string, unknown>): string[] {
  if (input.POLICY !== undefined) return [];
  const own = new Set(POLICY_SETTING_KEYS[DEFAULT_POLICY]);
  const problems: string[] = [];
  for (const [name, keys] of Object.entries(POLICY_SETTING_KEYS)) {
    const set = keys.filter((k) => !own.has(k) && k in input);
    if (name === DEFAULT_POLICY || set.length === 0) continue;
    problems.push(
      `${set.join(', ')} ${set.length === 1 ? 'is a setting' : 'are settings'} of POLICY=${name}, but POLICY is unset and the default policy is ${DEFAULT_POLICY}: set POLICY=${name} to keep that rule, or remove ${set.length === 1 ? 'it' : 'them'} to use ${DEFAULT_POLICY}`,
    );
  }
  return problems;
}

export class ConfigError extends GpuScalerError {
  constructor(readonly problems: string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
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
    case 'invalid_format':
      return issue.format === 'url' ? 'a URL' : issue.message;
    default:
      return issue.message;
  }
}

/** The one message of a setting's value that its schema refuses: `MAX_WORKERS="-1" is not allowed: expected a number >= 0`. */
function notAllowed(key: string, value: unknown, issue: z.core.$ZodIssue): string {
  const shown = SECRET_KEYS.includes(key) ? '***' : JSON.stringify(value);
  return `${key}=${shown} is not allowed: expected ${allowed(issue)}`;
}

/** Whether `key` is a setting of the configuration. */
export const isSetting = (key: string): key is Key => Object.hasOwn(ConfigSchema.shape, key);

/**
 * One setting's value checked on its own by the configuration's schema (an operator's `set
 * KEY=VALUE`): its parsed value, or the message loadConfig gives for the same value.
 */
export function checkSetting(
  key: Key,
  text: string,
): { ok: true; value: Config[Key] } | { ok: false; problem: string } {
  const value = text.trim();
  const res = ConfigSchema.shape[key].safeParse(value);
  if (res.success) return { ok: true, value: res.data as Config[Key] };
  return { ok: false, problem: notAllowed(key, value, res.error.issues[0]) };
}

export interface LoadConfigOptions {
  /**
   * false: only each value's own rule, not the rules across settings (a provider's required
   * settings, the policy's): the top level of a configuration file whose pools complete it.
   */
  checks?: boolean;
}

/**
 * Parses the configuration from environment variables (empty values count as unset). A bad value
 * names the variable, the value and what is allowed.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  opts: LoadConfigOptions = {},
): Config {
  const checks = opts.checks ?? true;
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v.trim() !== '') input[key] = v.trim();
  }
  const renamed: string[] = [];
  for (const [old, key] of Object.entries(RENAMED_TO_SEC)) {
    const v = env[old]?.trim();
    if (!v) continue;
    const sec = Number(v) / 1000;
    renamed.push(
      `${old} is no longer read: durations are in seconds, set ${key}=${Number.isFinite(sec) ? sec : '<seconds>'} instead`,
    );
  }
  // A source or provider not in use is not configured: its settings are not validated (a bad value
  // there takes the default), so switching PROVIDER or TASK_SOURCE never trips on the other's.
  const unused = settingsNotInUse(
    input.TASK_SOURCE ?? DEFAULT_SOURCE,
    input.PROVIDER ?? DEFAULT_PROVIDER,
    input.POLICY ?? DEFAULT_POLICY,
  );
  for (const key of unused) {
    if (key in input && !ConfigSchema.shape[key as Key].safeParse(input[key]).success) delete input[key];
  }
  const policyless = checks ? settingsWithoutTheirPolicy(input) : [];
  const res = ConfigSchema.safeParse(input);
  if (!res.success) {
    throw new ConfigError([
      ...renamed,
      ...policyless,
      ...res.error.issues.map((i) => notAllowed(String(i.path[0]), input[String(i.path[0])], i)),
    ]);
  }
  const cfg = res.data;
  if (!checks) {
    if (renamed.length) throw new ConfigError(renamed);
    return cfg;
  }
  const problems: string[] = [...renamed, ...policyless];
  // The rules of the provider and the source in use, declared beside each.
  problems.push(...checkOf(PROVIDERS[cfg.PROVIDER], cfg), ...checkOf(SOURCES[cfg.TASK_SOURCE], cfg));
  if (cfg.PARKED_MAX > 0 && cfg.PROVIDER === 'kubernetes')
    problems.push(
      `PARKED_MAX=${cfg.PARKED_MAX} is not allowed with PROVIDER=kubernetes: a Kubernetes pod cannot be stopped and started again (expected PARKED_MAX=0; parking works with runpod, simulated and local)`,
    );
  if (cfg.POLICY === 'operators' && cfg.MIN_ACTIVE_GPUS > cfg.MAX_ACTIVE_GPUS) {
    problems.push(
      `MIN_ACTIVE_GPUS=${cfg.MIN_ACTIVE_GPUS} is not allowed: expected a number of GPUs <= MAX_ACTIVE_GPUS (${cfg.MAX_ACTIVE_GPUS}), the hard budget`,
    );
  }
  problems.push(...unsafeSecrets(cfg));
  if (problems.length) throw new ConfigError(problems);
  // A policy with an idle time of its own: an idle timeout the operator set, and not that, holds.
  const idle = policyNamed(cfg.POLICY).idleSetting;
  if (idle && input.GPU_IDLE_TIMEOUT_SEC !== undefined && input[idle] === undefined) {
    return { ...cfg, [idle]: cfg.GPU_IDLE_TIMEOUT_SEC };
  }
  return cfg;
}

/** A definition's own rules on a whole configuration (which holds its settings, parsed by its schema). */
const checkOf = (def: SettingsBlock, cfg: Config): string[] => def.check(cfg);

/**
 * Secret settings whose value cannot be redacted safely (too short, a word, a number, one of our own
 * words): every log line, event and error is searched for each secret, so such a value would be
 * replaced inside ordinary text on every line. Refused at start, naming the setting and why, never
 * the value. A JSON object (a worker environment) is not one secret: its values are redacted each
 * on its own where safe (secretValues).
 */
function unsafeSecrets(cfg: Config): string[] {
  const ownWords = Object.keys(ConfigSchema.shape);
  const problems: string[] = [];
  for (const [key, value] of Object.entries(cfg)) {
    if (!SECRET_KEYS.includes(key)) continue;
    if (typeof value !== 'string' || value.trim() === '' || isJsonObject(value)) continue;
    const why = unsafeSecretReason(value, ownWords);
    if (why) {
      problems.push(
        `${key} is too short or too common to redact safely: ${why}. Every log line, event and error is searched for it and it would be replaced inside ordinary text; use a random value of 16 or more characters`,
      );
    }
  }
  return problems;
}

function isJsonObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** Edit distance (insertions, deletions, substitutions) between two names. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** Variables other software sets that are one edit from a setting of ours: npm and npx set NODE (MODE). */
const SET_BY_OTHERS = new Set(['NODE']);

/**
 * Warnings for environment variables that look like a misspelt setting of ours
 * (`POLL_INTERVAL_SECS`, `MAX_ACTIVE_GPU`): an unknown name within edit distance 3 of one of ours
 * when it shares our prefix (`POLL_`, `MAX_`, ...), within 2 otherwise. Each names the right one.
 * Not errors: other software's variables share the environment. `known`: every setting name read
 * from the environment (this schema's, plus any declared elsewhere).
 */
export function misspeltSettings(
  env: Record<string, string | undefined>,
  known: readonly string[] = [...Object.keys(ConfigSchema.shape), ...Object.keys(RENAMED_TO_SEC)],
): string[] {
  const names = new Set(known);
  const warnings: string[] = [];
  for (const name of Object.keys(env)) {
    if (names.has(name) || SET_BY_OTHERS.has(name) || !/^[A-Z][A-Z0-9_]*$/.test(name)) continue;
    const best = closestSetting(name, known);
    if (best) warnings.push(`${name} is not a setting of ours: did you mean ${best}? (it is ignored)`);
  }
  return warnings;
}

/**
 * The setting `name` is most likely a misspelling of: within edit distance 3 when it shares a
 * setting's prefix (`POLL_`, `MAX_`, ...), within 2 otherwise; null when none is that close.
 */
export function closestSetting(
  name: string,
  known: readonly string[] = Object.keys(ConfigSchema.shape),
): string | null {
  const prefixes = new Set(known.map((k) => k.split('_')[0]));
  const limit = prefixes.has(name.split('_')[0]) ? 3 : 2;
  let best: { key: string; d: number } | null = null;
  for (const key of known) {
    // a short setting (MODE) is one edit from a misspelling, not two: HOME is not MODE
    const max = key.length <= 4 ? 1 : limit;
    if (Math.abs(key.length - name.length) > max) continue;
    const d = editDistance(name, key);
    if (d <= max && (!best || d < best.d)) best = { key, d };
  }
  return best?.key ?? null;
}

/**
 * The effective configuration, secrets masked: the settings that act, so the ones of a task
 * source, provider or policy not in use are left out. Values as shown: `(unset)`, or masked.
 */
export function effectiveSettings(cfg: Config): Record<string, string> {
  const unused = settingsNotInUse(cfg.TASK_SOURCE, cfg.PROVIDER, cfg.POLICY);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(cfg)) {
    if (unused.has(k)) continue;
    out[k] = v === undefined ? '(unset)' : SECRET_KEYS.includes(k) ? maskSecret(String(v)) : String(v);
  }
  return out;
}

/**
 * The effective configuration as printable lines, secrets masked (effectiveSettings): a last line
 * says which settings are left out.
 */
export function describeConfig(cfg: Config): string[] {
  return [
    ...Object.entries(effectiveSettings(cfg)).map(([k, shown]) => `${k}=${shown}`),
    `(not shown: the settings of task sources, providers and policies other than ${cfg.TASK_SOURCE}, ${cfg.PROVIDER} and ${cfg.POLICY}: they are not used)`,
  ];
}

function maskSecret(v: string): string {
  // keep the scheme and host of a URL, hide credentials and path
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^@/]*@)?([^/?#]*)(.*)$/i.exec(v);
  if (m) return `${m[1]}${m[2] ? '***@' : ''}${m[3]}${m[4] ? '/***' : ''}`;
  return v.length ? '***' : '';
}
