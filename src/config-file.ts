import fs from 'node:fs';
import yaml from 'js-yaml';
import { z } from 'zod';
import { DEFAULT_POOL, POOL_NAME_ALLOWED, POOL_NAME_PATTERN } from '../events/common';
import {
  type Config,
  ConfigError,
  ConfigSchema,
  closestSetting,
  loadConfig,
  RENAMED_TO_SEC,
  SECRET_KEYS,
} from './config';

/**
 * The configuration file (GPU_SCALER_CONFIG=path, or --config path on every command): YAML whose
 * top level takes the same setting names as the environment variables, and whose `pools:` maps
 * each pool's name to the settings it overrides. A pool inherits every top-level setting it does
 * not set; environment variables override the top level; `${VAR}` takes a value from the
 * environment, and secrets are only ever written so. With no file, the environment is one pool
 * named `default`. See docs/configuration-file.md.
 */

/** The pool the environment is when there is no file, or a file with no `pools:` (events/common.ts). */
export { DEFAULT_POOL };

/** What a pool name may be: a short identifier (it names streams, metrics and log lines); events/common.ts. */
export const POOL_NAME = POOL_NAME_PATTERN;

/**
 * Settings of the whole process, not of a pool (one store, one HTTP endpoint, one log): set at the
 * top level or in the environment; a pool that sets one is an error naming the line.
 */
export const PROCESS_SETTINGS: readonly string[] = [
  'DATABASE_URL',
  'HTTP_PORT',
  'HTTP_HOST',
  'HTTP_TOKEN',
  'LOG_FORMAT',
  'LOG_LEVEL',
  'LOG_FILE',
  'DB_LOGGING',
  'DB_LOGGING_REQUIRED',
  'DB_LOGGING_ERRORS_FILE',
  'SYSTEM_LOGS_RETENTION_DAYS',
  'GLOBAL_MAX_ACTIVE_GPUS',
  'GLOBAL_MAX_HOURLY_COST_USD',
];

/** `${NAME}`: a value taken from the environment. */
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const WHOLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

/** One setting as written in the file: its text (undefined: written empty) and its line (1-based). */
export interface FileValue {
  text: string | undefined;
  line: number;
}

/** A configuration file as written, checked for its shape (names, keys, secrets), not yet for its values. */
export interface ConfigFile {
  file: string;
  top: Map<string, FileValue>;
  pools: Array<{ name: string; line: number; values: Map<string, FileValue> }>;
}

/** Every name the file's top level and its pools may set (settings, plus the renamed ones, refused later with their new name). */
const settingNames = (): Set<string> => new Set([...Object.keys(ConfigSchema.shape), ...Object.keys(RENAMED_TO_SEC)]);

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const indentOf = (line: string) => line.length - line.trimStart().length;
const blank = (line: string) => /^\s*(#.*)?$/.test(line);
const quoted = (key: string) => `(?:${escapeRegex(key)}|"${escapeRegex(key)}"|'${escapeRegex(key)}')\\s*:(\\s|$)`;
/** A key at the start of a line (block style). */
const blockKey = (key: string) => new RegExp(`^\\s*${quoted(key)}`);
/** A key inside a flow mapping (`image: {MAX_WORKERS: 3}`). */
const flowKey = (key: string) => new RegExp(`[{,]\\s*${quoted(key)}`);
/** A line that opens a flow mapping (not a `{` inside a quoted value). */
const opensFlow = (line: string) => /^\s*\{|:\s*\{/.test(line);

/**
 * Where keys are in the file's text, for errors that name the line. The YAML reader gives values,
 * not positions, so the lines are found in the text: a key at the top level, a pool under `pools:`,
 * a key in a pool's block (or in its flow mapping `{...}`). Unfound: the nearest enclosing line.
 */
class Lines {
  private readonly lines: string[];
  constructor(text: string) {
    this.lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  }

  /** The end (exclusive) of the block that starts at `start`: the next line indented at most `indent`. */
  private blockEnd(start: number, indent: number): number {
    for (let i = start + 1; i < this.lines.length; i++) {
      if (!blank(this.lines[i]) && indentOf(this.lines[i]) <= indent) return i;
    }
    return this.lines.length;
  }

  /** The first line in [from, to) with `key:` at its start (at `indent`, when given), else in a flow mapping. */
  private find(key: string, from: number, to: number, indent?: number): number | undefined {
    const block = blockKey(key);
    for (let i = from; i < to; i++) {
      const line = this.lines[i];
      if ((indent === undefined || indentOf(line) === indent) && block.test(line)) return i;
    }
    const flow = flowKey(key);
    let inFlow = false;
    for (let i = from; i < to; i++) {
      const line = this.lines[i];
      inFlow ||= opensFlow(line);
      if (inFlow && flow.test(line)) return i;
    }
    return undefined;
  }

  top(key: string): number {
    return (this.find(key, 0, this.lines.length, 0) ?? 0) + 1;
  }

  private poolIndex(name: string): number | undefined {
    const pools = this.find('pools', 0, this.lines.length, 0);
    if (pools === undefined) return undefined;
    const end = this.blockEnd(pools, 0);
    const first = this.lines.slice(pools + 1, end).find((l) => !blank(l));
    return this.find(name, pools, end, first === undefined ? undefined : indentOf(first)) ?? pools;
  }

  pool(name: string): number {
    return (this.poolIndex(name) ?? 0) + 1;
  }

  poolKey(name: string, key: string): number {
    const at = this.poolIndex(name);
    if (at === undefined) return 1;
    return (this.find(key, at, this.blockEnd(at, indentOf(this.lines[at]))) ?? at) + 1;
  }

  /** The key written on a line (for YAML's own errors, which name only the line). */
  keyOn(line: number): string | undefined {
    return /^\s*["']?([^"':#]+)["']?\s*:/.exec(this.lines[line - 1] ?? '')?.[1]?.trim();
  }
}

/**
 * Every value is read as text (YAML's failsafe schema), as an environment variable is: the settings'
 * own rules then read `0x10`, `yes` or `1e3` exactly as they do from the environment. Only a plain
 * `~` or `null` is nothing (unset), and `<<: *anchor` merges a mapping written elsewhere.
 */
const AS_TEXT = yaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    new yaml.Type('tag:yaml.org,2002:null', {
      kind: 'scalar',
      resolve: (data: string | null) => data === null || ['~', 'null', 'Null', 'NULL'].includes(data),
      construct: () => null,
    }),
    new yaml.Type('tag:yaml.org,2002:merge', { kind: 'scalar', resolve: (data: string | null) => data === '<<' }),
  ],
});

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads a configuration file and checks what is written, before any value: YAML, the names of the
 * settings and pools, each key once, one value per setting, secrets only as `${VAR}`. Every problem
 * names the file and the line; all of them at once, in a ConfigError (exit 2).
 */
export function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([
      `configuration file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); GPU_SCALER_CONFIG and --config name a YAML file`,
    ]);
  }
  const lines = new Lines(text);
  let doc: unknown;
  try {
    doc = yaml.load(text, { schema: AS_TEXT, filename: file });
  } catch (err) {
    const e = err as { reason?: string; mark?: { line: number }; message: string };
    const line = (e.mark?.line ?? 0) + 1;
    if (e.reason?.startsWith('duplicated mapping key')) {
      const key = lines.keyOn(line);
      throw new ConfigError([
        `${file}:${line}: ${key ?? 'a key'} is set twice in the same block: keep one (each setting once at the top level and once per pool)`,
      ]);
    }
    throw new ConfigError([`${file}:${line}: not valid YAML: ${e.reason ?? e.message.split('\n')[0]}`]);
  }
  if (doc === undefined || doc === null) doc = {};
  if (!isMapping(doc)) {
    throw new ConfigError([`${file}:1: expected settings (KEY: value lines) at the top level, and pools under pools:`]);
  }
  const problems: string[] = [];
  const known = settingNames();
  const settings = (
    values: Record<string, unknown>,
    where: string,
    lineOf: (key: string) => number,
    inPool: boolean,
  ): Map<string, FileValue> => {
    const out = new Map<string, FileValue>();
    for (const [key, raw] of Object.entries(values)) {
      const line = lineOf(key);
      if (!known.has(key)) {
        const near = closestSetting(key, [...known]);
        const hint =
          !inPool && isMapping(raw)
            ? ' (a pool? pools are listed under pools:)'
            : ' (settings are named as the environment variables are, e.g. MAX_ACTIVE_GPUS)';
        problems.push(
          `${file}:${line}: ${key} is not a setting${where}${near ? `: did you mean ${near}?` : ''}${hint}`,
        );
        continue;
      }
      if (inPool && PROCESS_SETTINGS.includes(key)) {
        problems.push(
          `${file}:${line}: ${key} is a setting of the whole process (one store, one HTTP endpoint, one log), not of a pool${where}: set it at the top level`,
        );
        continue;
      }
      if (raw !== null && typeof raw !== 'string') {
        problems.push(
          `${file}:${line}: ${key}${where} is not allowed: expected one value (text, a number or true/false); a list is written comma-separated on one line, a JSON object as a quoted string`,
        );
        continue;
      }
      const text = raw === null ? undefined : raw;
      if (SECRET_KEYS.includes(key) && text !== undefined && text.trim() !== '' && !WHOLE_REFERENCE.test(text.trim())) {
        problems.push(
          `${file}:${line}: ${key}${where} is a secret and is never written in the file: write ${key}: \${SOME_VARIABLE} and set that variable in the environment`,
        );
        continue;
      }
      out.set(key, { text, line });
    }
    return out;
  };
  const { pools: poolsRaw, ...topRaw } = doc;
  const top = settings(topRaw, '', (k) => lines.top(k), false);
  const pools: ConfigFile['pools'] = [];
  if (poolsRaw !== undefined && poolsRaw !== null) {
    if (!isMapping(poolsRaw)) {
      problems.push(`${file}:${lines.top('pools')}: pools: expected each pool's name followed by its settings`);
    } else {
      for (const [name, values] of Object.entries(poolsRaw)) {
        const line = lines.pool(name);
        if (!POOL_NAME.test(name)) {
          problems.push(
            `${file}:${line}: pool name ${JSON.stringify(name)} is not allowed: expected ${POOL_NAME_ALLOWED}`,
          );
          continue;
        }
        if (values !== null && !isMapping(values)) {
          problems.push(
            `${file}:${line}: pool ${name}: expected the settings it overrides (KEY: value lines), or nothing`,
          );
          continue;
        }
        pools.push({
          name,
          line,
          values: settings(values ?? {}, ` in pool ${name}`, (k) => lines.poolKey(name, k), true),
        });
      }
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return { file, top, pools };
}

/** A pool's name and its effective configuration. */
export interface Pool {
  name: string;
  config: Config;
}

/** Every pool's effective configuration, and the top level's (the settings of the whole process). */
export interface Configuration {
  /** The file read (null: none, the environment alone). */
  file: string | null;
  top: Config;
  pools: Pool[];
}

export interface LoadConfigurationOptions {
  /** The file to read (default: GPU_SCALER_CONFIG; neither: the environment alone is one pool). */
  file?: string | null;
  /** Settings that win over everything, in every pool (a command's flags: start --max-workers). */
  overrides?: Record<string, string>;
}

/** The file named by opts.file, else by GPU_SCALER_CONFIG; null: none. */
export function configFileOf(env: Record<string, string | undefined>, file?: string | null): string | null {
  const named = file ?? env.GPU_SCALER_CONFIG?.trim();
  return named ? named : null;
}

/** The settings the environment sets (non-empty), by name: they win over the file's top level. */
function fromEnvironment(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of settingNames()) {
    const v = env[key];
    if (v !== undefined && v.trim() !== '') out[key] = v;
  }
  return out;
}

/**
 * `${VAR}`s replaced by the environment's values; a variable that is not set is a problem naming
 * where the value is used (the pool or pools) and the key.
 */
function resolve(
  key: string,
  value: FileValue,
  env: Record<string, string | undefined>,
  file: string,
  usedBy: string,
  problems: string[],
): string | undefined {
  if (value.text === undefined) return undefined;
  return value.text.replace(REFERENCE, (_, name: string) => {
    const v = env[name];
    if (v === undefined) {
      problems.push(
        `${file}:${value.line}: ${usedBy}: ${key} takes \${${name}} from the environment, but ${name} is not set`,
      );
      return '';
    }
    return v;
  });
}

/** `pool video: ` before each problem, and the file's line after it when the setting it names was written there. */
function located(prefix: string, problems: string[], lineOf: (key: string) => number | undefined, file: string) {
  return problems.map((p) => {
    const key = /^[A-Z][A-Z0-9_]*/.exec(p)?.[0];
    const line = key ? lineOf(key) : undefined;
    return `${prefix}: ${p}${line === undefined ? '' : ` (${file}:${line})`}`;
  });
}

function loadOrProblems(
  input: Record<string, string | undefined>,
  checks: boolean,
  prefix: string,
  lineOf: (key: string) => number | undefined,
  file: string,
  problems: string[],
): Config | null {
  try {
    return loadConfig(input, { checks });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...located(prefix, err.problems, lineOf, file));
    return null;
  }
}

/**
 * The configuration of every pool, validated before anything opens: from the file (opts.file or
 * GPU_SCALER_CONFIG) and the environment, or the environment alone as one pool named `default`.
 * Every problem names the pool, the key, the value and what is allowed (and the file's line);
 * all of them at once in a ConfigError (exit 2).
 */
export function loadConfiguration(
  env: Record<string, string | undefined> = process.env,
  opts: LoadConfigurationOptions = {},
): Configuration {
  const overrides = opts.overrides ?? {};
  const path = configFileOf(env, opts.file);
  if (path === null) {
    const config = loadConfig({ ...env, ...overrides });
    return { file: null, top: config, pools: [{ name: DEFAULT_POOL, config }] };
  }
  const parsed = readConfigFile(path);
  const envSettings = fromEnvironment(env);
  const declared = parsed.pools.length
    ? parsed.pools
    : [{ name: DEFAULT_POOL, line: 1, values: new Map<string, FileValue>() }];
  const problems: string[] = [];
  // the top level: the file's, under the environment's
  const topInput: Record<string, string | undefined> = {};
  for (const [key, value] of parsed.top) {
    if (key in envSettings) continue;
    const inheritors = declared.filter((p) => !p.values.has(key)).map((p) => p.name);
    if (inheritors.length === 0) continue; // every pool sets its own
    const usedBy =
      parsed.pools.length === 0
        ? `pool ${DEFAULT_POOL}`
        : `the top level (inherited by pool${inheritors.length > 1 ? 's' : ''} ${inheritors.join(', ')})`;
    topInput[key] = resolve(key, value, env, path, usedBy, problems);
  }
  Object.assign(topInput, envSettings);
  const poolInputs = declared.map((pool) => {
    const input: Record<string, string | undefined> = { ...topInput };
    for (const [key, value] of pool.values) input[key] = resolve(key, value, env, path, `pool ${pool.name}`, problems);
    return { pool, input: { ...input, ...overrides } };
  });
  if (problems.length) throw new ConfigError(problems);
  // the file's line of a top-level setting in use: not when the environment overrides it with
  // another value (main() puts the file's top level into the environment: the same value is the file's)
  const topLine = (key: string) => {
    const value = parsed.top.get(key);
    if (!value || !(key in envSettings)) return value?.line;
    return resolve(key, value, env, path, '', []) === envSettings[key] ? value.line : undefined;
  };

  if (parsed.pools.length === 0) {
    const config = loadOrProblems(poolInputs[0].input, true, `pool ${DEFAULT_POOL}`, topLine, path, problems);
    if (!config) throw new ConfigError(problems);
    return { file: path, top: config, pools: [{ name: DEFAULT_POOL, config }] };
  }
  // the top level alone is checked value by value (its pools complete it), then each pool in full
  const top = loadOrProblems({ ...topInput, ...overrides }, false, 'top level', topLine, path, problems);
  if (!top) throw new ConfigError(problems);
  const pools: Pool[] = [];
  for (const { pool, input } of poolInputs) {
    const lineOf = (key: string) => pool.values.get(key)?.line ?? topLine(key);
    const config = loadOrProblems(input, true, `pool ${pool.name}`, lineOf, path, problems);
    if (config) pools.push({ name: pool.name, config });
  }
  if (problems.length) throw new ConfigError(problems);
  return { file: path, top, pools };
}

/**
 * The environment with the file's top-level settings added where the environment does not set
 * them (`${VAR}`s resolved; one whose variable is unset is left out, for loadConfiguration to
 * report), and GPU_SCALER_CONFIG naming the file: every command then reads the file's DATABASE_URL
 * and the rest as if they were environment variables, and `start` and `config` find its pools.
 * What is written wrong (a name, a key twice, a literal secret) is a ConfigError naming the line.
 */
export function withConfigFile(
  env: Record<string, string | undefined>,
  file: string,
): Record<string, string | undefined> {
  const parsed = readConfigFile(file);
  const merged: Record<string, string | undefined> = { ...env, GPU_SCALER_CONFIG: file };
  for (const [key, value] of parsed.top) {
    if (env[key] !== undefined && env[key]?.trim() !== '') continue;
    const unresolved: string[] = [];
    const text = resolve(key, value, env, file, '', unresolved);
    if (unresolved.length === 0 && text !== undefined) merged[key] = text;
  }
  return merged;
}

type JsonSchema = Record<string, unknown>;

/** `${VAR}` as a JSON Schema pattern: any setting may take its value from the environment. */
const REFERENCE_PATTERN = '\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}';
const DECIMAL_OR_REFERENCE = `^\\s*([+-]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?|${REFERENCE_PATTERN})\\s*$`;

/** One setting's JSON Schema, from its zod rule: what an editor offers and flags as it is typed. */
function settingJsonSchema(key: string, field: z.ZodType): JsonSchema {
  // written empty, `~` or `null`: unset
  const unset = { type: 'null' };
  if (SECRET_KEYS.includes(key)) {
    return {
      anyOf: [{ type: 'string', pattern: `^${REFERENCE_PATTERN}$` }, unset],
      description: `a secret: written \${VARIABLE}, taken from the environment`,
    };
  }
  const input = z.toJSONSchema(field, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const output = z.toJSONSchema(field, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
  const dflt = output.default ?? input.default;
  const schema = (...anyOf: JsonSchema[]): JsonSchema => ({
    anyOf: [...anyOf, unset],
    ...(dflt === undefined ? {} : { default: dflt }),
  });
  const reference = { type: 'string', pattern: REFERENCE_PATTERN };
  if (output.type === 'number' || output.type === 'integer') {
    const n: JsonSchema = { type: output.type };
    if (typeof output.minimum === 'number') n.minimum = output.minimum;
    if (typeof output.maximum === 'number' && output.maximum < Number.MAX_SAFE_INTEGER) n.maximum = output.maximum;
    return schema(n, { type: 'string', pattern: DECIMAL_OR_REFERENCE });
  }
  if (Array.isArray(input.enum)) {
    const words = { type: 'string', enum: input.enum };
    // true/false settings: YAML's own booleans too
    const isBool = output.type !== 'string' && input.enum.includes('true');
    return isBool ? schema({ type: 'boolean' }, words, reference) : schema(words, reference);
  }
  return schema({ type: 'string' });
}

/**
 * The JSON Schema of the configuration file (`gpu-scaler config --schema`), for editors: every
 * setting at the top level, and under `pools:` each pool's name and the settings it may override.
 * From the same schema the settings are validated with; the rules across settings (a provider's
 * required ones) are checked at start, not here.
 */
export function configFileJsonSchema(): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [key, field] of Object.entries(ConfigSchema.shape)) properties[key] = settingJsonSchema(key, field);
  const poolProperties = Object.fromEntries(Object.entries(properties).filter(([k]) => !PROCESS_SETTINGS.includes(k)));
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'gpu-scaler configuration file',
    description: `Settings named as the environment variables; pools: each pool name and the settings it overrides. \${VAR} takes a value from the environment; secrets only so.`,
    type: 'object',
    additionalProperties: false,
    properties: {
      ...properties,
      pools: {
        type: ['object', 'null'],
        description: `Each pool's name (${POOL_NAME_ALLOWED}) and the settings it overrides; it inherits the rest from the top level.`,
        propertyNames: { pattern: POOL_NAME.source },
        additionalProperties: {
          type: ['object', 'null'],
          additionalProperties: false,
          // `<<: *anchor`: a YAML merge key, another pool's settings
          properties: { '<<': { type: 'object' }, ...poolProperties },
        },
      },
    },
  };
}
