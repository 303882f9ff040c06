import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appRegistry } from '../../events/index';
import { OPERATOR_STREAM } from '../../events/operator';
import { ConfigError, loadConfig } from '../../src/config';
import { openStore } from '../../src/store/index';
import { parseDatabaseUrl } from '../../src/store/open';
import { runMain } from './run-cli';

/** The configuration's own message for one bad value (what `set` must say too). */
function configMessage(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems[0];
  }
  throw new Error('expected a ConfigError');
}

describe('operator commands (embedded store)', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-operator-'));
    env = { DATABASE_URL: `pglite://${path.join(dir, 'db')}`, PATH: process.env.PATH ?? '' };
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function operatorEvents() {
    const store = await openStore({
      target: parseDatabaseUrl(env.DATABASE_URL),
      registry: appRegistry,
      applicationName: 'test',
    });
    try {
      return await store.readStream(OPERATOR_STREAM);
    } finally {
      await store.close();
    }
  }

  test('each command appends exactly one event with who, why, when, for how long and what', async () => {
    const runs = [
      ['pause', '--all', '--reason', 'incident 123', '--by', 'ana@ops-1'],
      ['set', 'MAX_ACTIVE_GPUS=2', '--pool', 'default', '--for', '2h', '--reason', 'incident 123', '--by', 'ana@ops-1'],
      ['drain', '--pool', 'default'],
      ['resume', '--pool', 'default', '--reason', 'fixed'],
      ['unset', 'MAX_ACTIVE_GPUS', '--pool', 'default'],
      ['shadow', '--pool', 'default', '--reason', 'try it beside the old orchestrator'],
      ['activate', '--all', '--reason', 'switch over'],
    ];
    for (const [i, args] of runs.entries()) {
      const r = await runMain(args, env);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(/^recorded: /);
      expect(await operatorEvents()).toHaveLength(i + 1);
    }
    const events = await operatorEvents();
    const data = events.map((e) => (e.type === 'OperatorCommandIssued' ? e.data : null));
    expect(data.map((d) => [d?.command, d?.pool, d?.key, d?.value, d?.forSec, d?.reason])).toEqual([
      ['pause', '*', null, null, null, 'incident 123'],
      ['set', 'default', 'MAX_ACTIVE_GPUS', '2', 7200, 'incident 123'],
      ['drain', 'default', null, null, null, null],
      ['resume', 'default', null, null, null, 'fixed'],
      ['unset', 'default', 'MAX_ACTIVE_GPUS', null, null, null],
      ['set', 'default', 'MODE', 'shadow', null, 'try it beside the old orchestrator'],
      ['set', '*', 'MODE', 'active', null, 'switch over'],
    ]);
    expect(data[0]?.by).toBe('ana@ops-1');
    expect(data[2]?.by).toBe(`${os.userInfo().username}@${os.hostname()}`);
    const set = data[1];
    expect(set && Date.parse(set.until ?? '') - Date.parse(set.at)).toBe(7_200_000);

    const list = await runMain(['overrides'], env);
    expect(list.code).toBe(0);
    // activate --all ended shadow --pool default: a command on every pool reaches each
    expect(list.stdout).toContain('In force (1):');
    expect(list.stdout).toMatch(/all pools: MODE=active set by .* at/);
    expect(list.stdout).toContain('all pools: paused by ana@ops-1 at');
    expect(list.stdout).toContain('pool default: MAX_ACTIVE_GPUS=2 set by ana@ops-1 at');
  });

  test.each([
    {
      what: 'an unknown key',
      args: ['set', 'MAX_ACTIVE_GPU=2', '--pool', 'default', '--reason', 'x'],
      message: 'MAX_ACTIVE_GPU is not a setting of ours: did you mean MAX_ACTIVE_GPUS?',
    },
    {
      what: 'a setting a command cannot change',
      args: ['set', 'DATABASE_URL=postgres://x/y', '--pool', 'default', '--reason', 'x'],
      message: 'DATABASE_URL cannot be set by a command',
    },
    {
      what: 'a value outside what the setting allows',
      args: ['set', 'MAX_ACTIVE_GPUS=-1', '--pool', 'default', '--reason', 'x'],
      message: configMessage({ MAX_ACTIVE_GPUS: '-1' }),
    },
    {
      what: 'a value that is not a number',
      args: ['set', 'GPU_IDLE_TIMEOUT_SEC=0x10', '--pool', 'default', '--reason', 'x'],
      message: configMessage({ GPU_IDLE_TIMEOUT_SEC: '0x10' }),
    },
    {
      what: 'an unknown pool',
      args: ['pause', '--pool', 'gpu-b', '--reason', 'x'],
      message: '--pool gpu-b: no such pool; the pools are default',
    },
    { what: 'no pool', args: ['pause', '--reason', 'x'], message: 'name the pool' },
    { what: 'pause without a reason', args: ['pause', '--all'], message: 'pause needs --reason' },
    { what: 'set without a reason', args: ['set', 'MAX_WORKERS=2', '--all'], message: 'set needs --reason' },
    {
      what: 'a bad --for',
      args: ['set', 'MAX_WORKERS=2', '--all', '--reason', 'x', '--for', '2 hours'],
      message: '--for',
    },
  ])('$what is refused with exit 2 and nothing appended', async ({ args, message }) => {
    const before = (await operatorEvents()).length;
    const r = await runMain(args, env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(await operatorEvents()).toHaveLength(before);
  });

  test('while a service holds the embedded store, a command refuses clearly and records nothing', async () => {
    const before = (await operatorEvents()).length;
    // the directory lock of src/store/dir-lock.ts, held by a live process (this one)
    const lock = path.join(dir, 'db.lock');
    fs.writeFileSync(lock, String(process.pid));
    try {
      const r = await runMain(['pause', '--all', '--reason', 'incident'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`pause refused: the service (process ${process.pid}) holds the embedded store`);
      expect(r.stderr).toContain('DATABASE_URL=postgres://');
    } finally {
      fs.rmSync(lock, { force: true });
    }
    expect(await operatorEvents()).toHaveLength(before);
  });
});
