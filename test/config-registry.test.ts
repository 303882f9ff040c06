import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type ConfigError, loadConfig } from '../src/config';
import { PROVIDERS } from '../src/providers/registry';
import { SOURCES } from '../src/sources/index';

type ConfigModule = typeof import('../src/config');
type ConfigFileModule = typeof import('../src/config-file');

/** The problems a configuration is refused with ([] when accepted). */
const problemsOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof Error && 'problems' in err) return (err as ConfigError).problems;
    throw err;
  }
  return [];
};

/**
 * The configuration modules loaded afresh with one more provider in src/providers/registry.ts:
 * what adding a provider is (its own file, and its line in the list). src/config.ts is not touched.
 */
function withFakeProvider(): { config: ConfigModule; file: ConfigFileModule } {
  let loaded: { config: ConfigModule; file: ConfigFileModule } | undefined;
  jest.isolateModules(() => {
    jest.doMock('../src/providers/registry', () => {
      const actual = jest.requireActual('../src/providers/registry') as typeof import('../src/providers/registry');
      const { z } = jest.requireActual('zod') as typeof import('zod');
      const { defineSettings, int } = jest.requireActual('../src/settings') as typeof import('../src/settings');
      const fake = defineSettings({
        name: 'fake',
        settings: {
          FAKE_REGION: z.enum(['eu', 'us']).optional(),
          FAKE_TOKEN: z.string().optional(),
          FAKE_SLOTS_SEC: int(1).default(2),
        },
        secrets: ['FAKE_TOKEN'],
        check: (s) => (s.FAKE_REGION ? [] : ['FAKE_REGION is required with PROVIDER=fake']),
        renamed: { FAKE_SLOTS_MS: 'FAKE_SLOTS_SEC' },
      });
      return { PROVIDERS: { ...actual.PROVIDERS, fake } };
    });
    loaded = {
      config: jest.requireActual('../src/config') as ConfigModule,
      file: jest.requireActual('../src/config-file') as ConfigFileModule,
    };
  });
  if (!loaded) throw new Error('not loaded');
  return loaded;
}

describe('settings registries', () => {
  test('a provider added to the list brings its settings, secrets, rules and former names into validation', () => {
    const { config, file } = withFakeProvider();
    const TOKEN = 'fk-0123456789abcdef0123';
    // its rules, only when it is the provider
    expect(problemsOf(() => config.loadConfig({ PROVIDER: 'fake' }))).toEqual([
      'FAKE_REGION is required with PROVIDER=fake',
    ]);
    expect(problemsOf(() => config.loadConfig({ PROVIDER: 'fake', FAKE_REGION: 'mars' }))).toEqual([
      'FAKE_REGION="mars" is not allowed: expected one of "eu", "us"',
    ]);
    expect(problemsOf(() => config.loadConfig({ FAKE_REGION: 'mars' }))).toEqual([]);
    expect(problemsOf(() => config.loadConfig({ PROVIDER: 'aws' }))[0]).toMatch(
      /^PROVIDER="aws" is not allowed: expected one of "simulated", .*"fake"$/,
    );
    expect(problemsOf(() => config.loadConfig({ PROVIDER: 'fake', FAKE_REGION: 'eu', FAKE_SLOTS_MS: '4000' }))).toEqual(
      ['FAKE_SLOTS_MS is no longer read: durations are in seconds, set FAKE_SLOTS_SEC=4 instead'],
    );
    const c = config.loadConfig({ PROVIDER: 'fake', FAKE_REGION: 'eu', FAKE_TOKEN: TOKEN });
    expect(c).toMatchObject({ PROVIDER: 'fake', FAKE_REGION: 'eu', FAKE_SLOTS_SEC: 2 });
    // its secret is masked, redacted and never written in a configuration file
    const printed = config.describeConfig(c).join('\n');
    expect(printed).toContain('FAKE_TOKEN=***');
    expect(printed).not.toContain(TOKEN);
    expect(printed).not.toContain('RUNPOD_API_URL');
    expect(config.secretsOf(c)).toContain(TOKEN);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-registry-'));
    try {
      const f = path.join(dir, 'c.yaml');
      fs.writeFileSync(f, `PROVIDER: fake\npools:\n  a:\n    FAKE_REGION: eu\n    FAKE_TOKEN: ${TOKEN}\n`);
      expect(problemsOf(() => file.loadConfiguration({}, { file: f }))).toEqual([
        `${f}:5: FAKE_TOKEN in pool a is a secret and is never written in the file: write FAKE_TOKEN: \${SOME_VARIABLE} and set that variable in the environment`,
      ]);
      fs.writeFileSync(f, 'PROVIDER: fake\npools:\n  a:\n    FAKE_REGION: eu\n  b:\n    FAKE_REGION: asia\n');
      expect(problemsOf(() => file.loadConfiguration({}, { file: f }))).toEqual([
        `pool b: FAKE_REGION="asia" is not allowed: expected one of "eu", "us" (${f}:6)`,
      ]);
      const schema = file.configFileJsonSchema() as { properties: Record<string, unknown> };
      expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['FAKE_REGION', 'FAKE_TOKEN']));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // the registry as shipped knows no such provider
    expect(problemsOf(() => loadConfig({ PROVIDER: 'fake' }))[0]).toMatch(/^PROVIDER="fake" is not allowed/);
  });

  test("src/config.ts names no provider's or source's settings: each declares its own, beside itself", () => {
    const text = fs.readFileSync(path.join(__dirname, '../src/config.ts'), 'utf8');
    const named = [...Object.values(PROVIDERS), ...Object.values(SOURCES)].flatMap((d) =>
      [...Object.keys(d.settings), ...Object.keys(d.renamed ?? {})].filter((key) => text.includes(key)),
    );
    expect(named).toEqual([]);
    // every secret a provider or source declares is one of its own settings
    for (const d of [...Object.values(PROVIDERS), ...Object.values(SOURCES)]) {
      for (const key of d.secrets) expect(Object.keys(d.settings)).toContain(key);
    }
  });
});
