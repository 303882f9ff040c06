import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { Command } from 'commander';
import yaml from 'js-yaml';
import type { CliIo } from '../src/cli/context';
import { main } from '../src/cli/main';
import { defineStartCommand } from '../src/cli/start';
import { type Config, ConfigError, loadConfig } from '../src/config';
import { configFileJsonSchema, loadConfiguration, withConfigFile } from '../src/config-file';
import { Capture } from './helpers/harness';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-config-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
/** Writes a configuration file (the text as given, lines and all) and returns its path. */
function file(text: string): string {
  n += 1;
  const p = path.join(dir, `c${n}.yaml`);
  fs.writeFileSync(p, text);
  return p;
}

/** The problems a configuration is refused with (fails the test when it is accepted). */
function refused(env: Record<string, string | undefined>, f: string): string[] {
  try {
    loadConfiguration(env, { file: f });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('accepted');
}

const KEY = 'rp-0123456789abcdef-key';

const TWO_POOLS = `# two pools on RunPod
PROVIDER: runpod
RUNPOD_API_KEY: \${RUNPOD_KEY}
MAX_ACTIVE_GPUS: 8
POLL_INTERVAL_SEC: 15
pools:
  video:
    RUNPOD_GPU_TYPE_IDS: NVIDIA H100 80GB HBM3
    RUNPOD_IMAGE_NAME: ghcr.io/acme/video:1
    POLICY: operators
    MIN_ACTIVE_GPUS: 1
  image:
    RUNPOD_GPU_TYPE_IDS: NVIDIA GeForce RTX 4090, NVIDIA L4
    RUNPOD_IMAGE_NAME: ghcr.io/acme/image:\${IMAGE_TAG}
    MAX_ACTIVE_GPUS: 4
`;

describe('configuration file', () => {
  test('a pool inherits every top-level setting it does not set, and overrides the ones it does', () => {
    const c = loadConfiguration({ RUNPOD_KEY: KEY, IMAGE_TAG: '7' }, { file: file(TWO_POOLS) });
    expect(c.pools.map((p) => p.name)).toEqual(['video', 'image']);
    const [video, image] = c.pools.map((p) => p.config);
    expect(video).toMatchObject({
      PROVIDER: 'runpod',
      RUNPOD_API_KEY: KEY,
      MAX_ACTIVE_GPUS: 8,
      POLL_INTERVAL_SEC: 15,
      POLICY: 'operators',
      MIN_ACTIVE_GPUS: 1,
      RUNPOD_GPU_TYPE_IDS: 'NVIDIA H100 80GB HBM3',
    });
    expect(image).toMatchObject({
      PROVIDER: 'runpod',
      MAX_ACTIVE_GPUS: 4,
      POLL_INTERVAL_SEC: 15,
      POLICY: 'default',
      RUNPOD_IMAGE_NAME: 'ghcr.io/acme/image:7',
      RUNPOD_GPU_TYPE_IDS: 'NVIDIA GeForce RTX 4090, NVIDIA L4',
    });
    // a setting neither sets takes its default, as from the environment
    expect(image.MAX_WORKERS).toBe(10);
    expect(c.top.MAX_ACTIVE_GPUS).toBe(8);
    expect(c.file).toMatch(/c\d+\.yaml$/);
  });

  test("environment variables override the file's top level; a pool's own setting still wins for that pool", () => {
    const c = loadConfiguration(
      { RUNPOD_KEY: KEY, IMAGE_TAG: '7', MAX_ACTIVE_GPUS: '6', POLL_INTERVAL_SEC: '' },
      { file: file(TWO_POOLS) },
    );
    expect(c.top.MAX_ACTIVE_GPUS).toBe(6);
    expect(c.pools.map((p) => [p.name, p.config.MAX_ACTIVE_GPUS])).toEqual([
      ['video', 6],
      ['image', 4],
    ]);
    // an empty variable is unset, as everywhere: the file's value holds
    expect(c.pools[0].config.POLL_INTERVAL_SEC).toBe(15);
  });

  test('GPU_SCALER_CONFIG names the file; a file without pools: is the one pool named default', () => {
    const f = file('MAX_WORKERS: 3\nDB_LOGGING: no\n');
    const c = loadConfiguration({ GPU_SCALER_CONFIG: f });
    expect(c.pools.map((p) => p.name)).toEqual(['default']);
    expect(c.pools[0].config).toMatchObject({ MAX_WORKERS: 3, DB_LOGGING: false });
    expect(c.top).toBe(c.pools[0].config);
  });

  test("no file: the environment is one pool named default, exactly loadConfig's configuration", () => {
    const env = { MAX_ACTIVE_GPUS: '3', POLICY: 'keda' };
    const c = loadConfiguration(env);
    expect(c).toEqual({ file: null, top: loadConfig(env), pools: [{ name: 'default', config: loadConfig(env) }] });
    // and its errors are today's, word for word
    expect(() => loadConfiguration({ MAX_ACTIVE_GPUS: 'four' })).toThrow(
      new ConfigError([
        'MAX_ACTIVE_GPUS="four" is not allowed: expected a whole number in decimal such as 30 (hexadecimal, octal and binary forms like 0x10 are not read)',
      ]),
    );
  });

  test(`\${VAR} whose variable is not set: a start-up error naming the pool, the key and the line`, () => {
    const f = file(TWO_POOLS);
    expect(refused({ RUNPOD_KEY: KEY }, f)).toEqual([
      `${f}:14: pool image: RUNPOD_IMAGE_NAME takes \${IMAGE_TAG} from the environment, but IMAGE_TAG is not set`,
    ]);
    // at the top level: the pools that inherit it are named
    expect(refused({ IMAGE_TAG: '7' }, f)).toEqual([
      `${f}:3: the top level (inherited by pools video, image): RUNPOD_API_KEY takes \${RUNPOD_KEY} from the environment, but RUNPOD_KEY is not set`,
    ]);
    // set in the environment, the file's reference is not needed
    expect(() => loadConfiguration({ IMAGE_TAG: '7', RUNPOD_API_KEY: KEY }, { file: f })).not.toThrow();
  });

  test('a secret written in the file is refused, naming the key and the line, never the value', () => {
    const f = file(
      'PROVIDER: runpod\nRUNPOD_API_KEY: rp-live-secret-value-1234\npools:\n  a:\n    TASK_COUNT_KEY: "abc-very-secret-token"\n',
    );
    const problems = refused({}, f);
    expect(problems).toEqual([
      `${f}:2: RUNPOD_API_KEY is a secret and is never written in the file: write RUNPOD_API_KEY: \${SOME_VARIABLE} and set that variable in the environment`,
      `${f}:5: TASK_COUNT_KEY in pool a is a secret and is never written in the file: write TASK_COUNT_KEY: \${SOME_VARIABLE} and set that variable in the environment`,
    ]);
    expect(problems.join('\n')).not.toMatch(/rp-live-secret|very-secret/);
    // a secret partly spelt out around a reference is a literal too
    expect(refused({ PG: 'x' }, file(`DATABASE_URL: postgres://u:\${PG}@db/x\n`))[0]).toMatch(
      /:1: DATABASE_URL is a secret and is never written in the file/,
    );
  });

  test('a bad value names the pool, the key, the value, what is allowed, and the line', () => {
    const f = file('MAX_WORKERS: 5\npools:\n  video:\n    MAX_ACTIVE_GPUS: four\n  image:\n    POLICY: fastest\n');
    expect(refused({}, f)).toEqual([
      `pool video: MAX_ACTIVE_GPUS="four" is not allowed: expected a whole number in decimal such as 30 (hexadecimal, octal and binary forms like 0x10 are not read) (${f}:4)`,
      `pool image: POLICY="fastest" is not allowed: expected one of "operators", "keda", "hpa", "default" (${f}:6)`,
    ]);
    // a bad top-level value is named once, at the top level, not once per pool
    const g = file('MAX_WORKERS: 0x10\npools:\n  a:\n  b:\n');
    expect(refused({}, g)).toEqual([
      `top level: MAX_WORKERS="0x10" is not allowed: expected a whole number in decimal such as 30 (hexadecimal, octal and binary forms like 0x10 are not read) (${g}:1)`,
    ]);
    // the rules across settings hold per pool: the provider's required settings
    const h = file(`PROVIDER: runpod\nRUNPOD_API_KEY: \${K}\npools:\n  a:\n    RUNPOD_IMAGE_NAME: img:1\n`);
    expect(refused({ K: KEY }, h)).toEqual([
      'pool a: RUNPOD_GPU_TYPE_IDS is required with PROVIDER=runpod: GPU type ids in order of preference, comma-separated',
    ]);
  });

  test('a plain ~ or null is unset; a merge key copies an anchored pool', () => {
    const f = file(
      'MAX_HOURLY_COST_USD: 5\nRUNPOD_TEMPLATE_ID: "null"\npools:\n  video: &video\n    MAX_WORKERS: 3\n    MAX_HOURLY_COST_USD: ~\n  image:\n    <<: *video\n    MAX_ACTIVE_GPUS: 4\n',
    );
    const c = loadConfiguration({}, { file: f });
    expect(
      c.pools.map((p) => [p.name, p.config.MAX_WORKERS, p.config.MAX_ACTIVE_GPUS, p.config.MAX_HOURLY_COST_USD]),
    ).toEqual([
      ['video', 3, 10, undefined],
      ['image', 3, 4, undefined],
    ]);
    expect(c.top.RUNPOD_TEMPLATE_ID).toBe('null');
  });

  test('numbers are read as the environment reads them: 0x10 and .inf are refused, not converted by YAML', () => {
    expect(refused({}, file('MAX_WORKERS: 0x10\n'))[0]).toMatch(/^pool default: MAX_WORKERS="0x10" is not allowed/);
    expect(refused({}, file('GPU_IDLE_TIMEOUT_SEC: .inf\n'))[0]).toMatch(/GPU_IDLE_TIMEOUT_SEC=".inf" is not allowed/);
  });

  test('an unknown key names its line (and the setting it most likely is); a key set twice names the line', () => {
    const f = file(
      '# comment\nMAX_ACTIVE_GPU: 4\npools:\n  video:\n    POLICY: operators\n    TASKS_PER_GPUS: 2\n  image: {MAX_WORKERS: 3, COLOUR: blue}\n',
    );
    expect(refused({}, f)).toEqual([
      `${f}:2: MAX_ACTIVE_GPU is not a setting: did you mean MAX_ACTIVE_GPUS? (settings are named as the environment variables are, e.g. MAX_ACTIVE_GPUS)`,
      `${f}:6: TASKS_PER_GPUS is not a setting in pool video: did you mean TASKS_PER_GPU? (settings are named as the environment variables are, e.g. MAX_ACTIVE_GPUS)`,
      `${f}:7: COLOUR is not a setting in pool image (settings are named as the environment variables are, e.g. MAX_ACTIVE_GPUS)`,
    ]);
    // a key is found where it is a key, not where its name is inside a value
    const v = file(
      `TASK_COUNT_BODY: '{"COLOUR": 1}'\nRUNPOD_IMAGE_NAME: image:1\npools:\n  video:\n    RUNPOD_ARGS: "image: x"\n  image:\n    COLOUR: 2\nCOLOUR: 3\n`,
    );
    expect(refused({}, v).map((p) => p.split(' is not')[0])).toEqual([`${v}:8: COLOUR`, `${v}:7: COLOUR`]);
    // a pool written at the top level
    const p = file('\uFEFFMAX_WORKERS: 3\nvideo:\n  MAX_WORKERS: 2\n');
    expect(refused({}, p)).toEqual([`${p}:2: video is not a setting (a pool? pools are listed under pools:)`]);
    const d = file('MAX_WORKERS: 3\npools:\n  video:\n    POLICY: keda\n    MAX_WORKERS: 2\n    POLICY: hpa\n');
    expect(refused({}, d)).toEqual([
      `${d}:6: POLICY is set twice in the same block: keep one (each setting once at the top level and once per pool)`,
    ]);
    const t = file('MAX_WORKERS: 3\nPOLICY: keda\nMAX_WORKERS: 4\n');
    expect(refused({}, t)).toEqual([
      `${t}:3: MAX_WORKERS is set twice in the same block: keep one (each setting once at the top level and once per pool)`,
    ]);
  });

  test('pool names are short identifiers; a setting of the whole process cannot be set per pool', () => {
    const f = file('pools:\n  Video:\n    MAX_WORKERS: 1\n  ok-pool-2:\n    LOG_LEVEL: debug\n  "a b":\n');
    expect(refused({}, f)).toEqual([
      `${f}:2: pool name "Video" is not allowed: expected 1 to 40 lowercase letters, digits and '-'`,
      `${f}:5: LOG_LEVEL is a setting of the whole process (one store, one HTTP endpoint, one log), not of a pool in pool ok-pool-2: set it at the top level`,
      `${f}:6: pool name "a b" is not allowed: expected 1 to 40 lowercase letters, digits and '-'`,
    ]);
    expect(refused({}, file(`pools:\n  ${'x'.repeat(41)}:\n`))[0]).toMatch(/pool name "x{41}" is not allowed/);
  });

  test('the JSON Schema validates a sample file and flags an unknown key, a bad pool name and a literal secret', () => {
    const schema = configFileJsonSchema();
    const validate = new Ajv2020({ strict: false, allErrors: true }).compile(schema);
    // as an editor reads YAML: numbers and booleans typed
    const sample = yaml.load(TWO_POOLS.replace('MAX_ACTIVE_GPUS: 8', 'MAX_ACTIVE_GPUS: 8\nDB_LOGGING: true'));
    expect(validate(sample)).toBe(true);
    expect(validate({ MAX_ACTIVE_GPUS: `\${GPUS}`, pools: { a: null } })).toBe(true);
    expect(
      validate({
        MAX_HOURLY_COST_USD: null,
        RUNPOD_API_KEY: null,
        DB_LOGGING: 'no',
        pools: { a: { MAX_WORKERS: '3' } },
      }),
    ).toBe(true);
    expect(validate({ MAX_ACTIVE_GPU: 4 })).toBe(false);
    expect(validate({ pools: { Video: {} } })).toBe(false);
    expect(validate({ pools: { video: { COLOUR: 'blue' } } })).toBe(false);
    expect(validate({ pools: { video: { DATABASE_URL: `\${DB}` } } })).toBe(false);
    expect(validate({ RUNPOD_API_KEY: 'rp-live-secret' })).toBe(false);
    expect(validate({ POLICY: 'fastest' })).toBe(false);
    expect(validate({ MAX_ACTIVE_GPUS: -1 })).toBe(false);
    expect(validate({ MAX_ACTIVE_GPUS: 'four' })).toBe(false);
  });

  test("--config: every command reads the file's top level as settings (the environment wins)", () => {
    const f = file(`DATABASE_URL: \${DB}\nMAX_WORKERS: 3\nPOLICY: keda\n`);
    const env = withConfigFile({ DB: 'memory://', POLICY: 'hpa' }, f);
    expect(env).toMatchObject({ GPU_SCALER_CONFIG: f, DATABASE_URL: 'memory://', MAX_WORKERS: '3', POLICY: 'hpa' });
    // a variable not set is left for start and config to report
    expect(withConfigFile({}, f).DATABASE_URL).toBeUndefined();
  });
});

test("docs/configuration-file.md's two-pool example is a valid file, with the pools it describes", () => {
  const doc = fs.readFileSync(path.join(__dirname, '../docs/configuration-file.md'), 'utf8');
  const example = /## What the file holds\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!example) throw new Error('no example');
  const env = { RUNPOD_API_KEY: KEY, TASK_COUNT_KEY: 'tc-0123456789abcdef', VIDEO_TAG: '3' };
  const c = loadConfiguration(env, { file: file(example) });
  expect(c.pools.map((p) => [p.name, p.config.POLICY, p.config.MAX_ACTIVE_GPUS, p.config.RUNPOD_GPU_TYPE_IDS])).toEqual(
    [
      ['video', 'operators', 8, 'NVIDIA H100 80GB HBM3'],
      ['image', 'default', 4, 'NVIDIA GeForce RTX 4090, NVIDIA L40S'],
    ],
  );
  expect(c.pools[0].config.RUNPOD_IMAGE_NAME).toBe('ghcr.io/acme/video-worker:3');
});

describe('gpu-scaler config, and start with a file', () => {
  const io = (env: Record<string, string>): CliIo & { stdout: Capture; stderr: Capture } => ({
    stdout: new Capture(),
    stderr: new Capture(),
    stdin: process.stdin,
    env,
    isTTY: false,
  });

  test("config prints every pool's effective configuration with secrets masked", async () => {
    const f = file(TWO_POOLS);
    const cli = io({ RUNPOD_KEY: KEY, IMAGE_TAG: '7' });
    expect(await main(['node', 'gpu-scaler', 'config', '--config', f], cli)).toBe(0);
    const out = cli.stdout.text;
    expect(out).toContain(`configuration from ${f} and the environment: 2 pools`);
    const video = out.slice(out.indexOf('pool video:'), out.indexOf('pool image:'));
    const image = out.slice(out.indexOf('pool image:'));
    expect(video).toContain('  MAX_ACTIVE_GPUS=8\n');
    expect(video).toContain('  TASKS_PER_GPU=1\n');
    expect(image).toContain('  MAX_ACTIVE_GPUS=4\n');
    expect(image).toContain('  RUNPOD_IMAGE_NAME=ghcr.io/acme/image:7\n');
    expect(out).toContain('RUNPOD_API_KEY=***');
    expect(out).not.toContain(KEY);
  });

  test('config with no file prints the environment as the pool default; a bad value exits 2 naming the pool', async () => {
    const plain = io({ MAX_WORKERS: '4' });
    expect(await main(['node', 'gpu-scaler', 'config'], plain)).toBe(0);
    expect(plain.stdout.text).toContain(
      'configuration from the environment (no configuration file): 1 pool\n\npool default:\n',
    );
    expect(plain.stdout.text).toContain('  MAX_WORKERS=4\n');

    const f = file('pools:\n  video:\n    MAX_WORKERS: -2\n');
    const bad = io({ GPU_SCALER_CONFIG: f });
    expect(await main(['node', 'gpu-scaler', 'config'], bad)).toBe(2);
    expect(bad.stderr.text).toContain(`pool video: MAX_WORKERS="-2" is not allowed: expected a number >= 0 (${f}:3)`);
    // a bad top-level value is named with its line too (main() reads the top level into the environment)
    const g = file('MAX_WORKERS: lots\npools:\n  video:\n');
    const top = io({});
    expect(await main(['node', 'gpu-scaler', 'config', '--config', g], top)).toBe(2);
    expect(top.stderr.text).toContain(`top level: MAX_WORKERS="lots" is not allowed`);
    expect(top.stderr.text).toContain(`(${g}:1)`);
  });

  test('config --json: the file and each pool with its settings, secrets masked; misspelt variables are warned of', async () => {
    const f = file(TWO_POOLS);
    const cli = io({ RUNPOD_KEY: KEY, IMAGE_TAG: '7', MAX_ACTIVE_GPU: '3', GPU_SCALER_CONFIG: f });
    expect(await main(['node', 'gpu-scaler', 'config', '--json'], cli)).toBe(0);
    const out = JSON.parse(cli.stdout.text) as {
      file: string;
      pools: { name: string; settings: Record<string, string> }[];
    };
    expect(out.file).toBe(f);
    expect(out.pools.map((p) => [p.name, p.settings.MAX_ACTIVE_GPUS, p.settings.RUNPOD_API_KEY])).toEqual([
      ['video', '8', '***'],
      ['image', '4', '***'],
    ]);
    expect(out.pools[1].settings.TASKS_PER_GPU).toBeUndefined();
    expect(cli.stderr.text).toContain(
      'warning: MAX_ACTIVE_GPU is not a setting of ours: did you mean MAX_ACTIVE_GPUS?',
    );
  });

  test("start runs a file's one pool with that pool's settings; its flags win over the pool's", async () => {
    const seen: Config[] = [];
    const run = async (cli: CliIo, args: string[]) => {
      const program = new Command('gpu-scaler').exitOverride();
      defineStartCommand(program, cli, {
        runService: async ({ config }) => {
          seen.push(config);
          return 0;
        },
      });
      await program.parseAsync(['node', 'gpu-scaler', 'start', ...args]);
    };
    const f = file('MAX_WORKERS: 9\npools:\n  video:\n    MAX_WORKERS: 3\n    MAX_ACTIVE_GPUS: 2\n');
    await run(io({ GPU_SCALER_CONFIG: f, MAX_WORKERS: '7' }), []);
    await run(io({ GPU_SCALER_CONFIG: f }), ['--max-active-gpus', '5']);
    await run(io({ MAX_WORKERS: '7' }), []);
    expect(seen.map((c) => [c.MAX_WORKERS, c.MAX_ACTIVE_GPUS])).toEqual([
      [3, 2],
      [3, 5],
      [7, 10],
    ]);
  });

  test('config --schema writes the JSON Schema', async () => {
    const cli = io({});
    expect(await main(['node', 'gpu-scaler', 'config', '--schema'], cli)).toBe(0);
    expect(JSON.parse(cli.stdout.text)).toEqual(configFileJsonSchema());
  });

  test('start runs every pool of a file: the configuration of each reaches the service', async () => {
    const seen: string[][] = [];
    const program = new Command('gpu-scaler').exitOverride();
    const cli = io({ RUNPOD_KEY: KEY, IMAGE_TAG: '7', GPU_SCALER_CONFIG: file(TWO_POOLS) });
    defineStartCommand(program, cli, {
      runService: async ({ configuration }) => {
        seen.push((configuration?.pools ?? []).map((p) => `${p.name}:${p.config.RUNPOD_IMAGE_NAME}`));
        return 0;
      },
    });
    await program.parseAsync(['node', 'gpu-scaler', 'start']);
    expect(seen).toEqual([['video:ghcr.io/acme/video:1', 'image:ghcr.io/acme/image:7']]);
  });

  test("a file's problems stop every command before anything opens (exit 2)", async () => {
    // a file's problems stop every command before anything opens
    const broken = io({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(await main(['node', 'gpu-scaler', 'status', '--config', file('NOPE: 1\n')], broken)).toBe(2);
    expect(broken.stderr.text).toContain(':1: NOPE is not a setting');
  });
});
