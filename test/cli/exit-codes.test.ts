import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appRegistry } from '../../events/index';
import { openStore } from '../../src/store/index';
import { runMain } from './run-cli';

// Each exit code through the CLI's main(): 0 success, 1 failure, 2 bad usage, 3 nothing found.
// The code follows from the error's code in one place (src/errors.ts exitCodeFor).
describe('exit codes', () => {
  let dir: string;
  const env = (extra: Record<string, string> = {}) => ({
    DATABASE_URL: `pglite://${path.join(dir, 'db')}`,
    LOG_FILE: path.join(dir, 'orchestrator.log'),
    DB_LOGGING_ERRORS_FILE: path.join(dir, 'db_logging_errors.log'),
    POLL_INTERVAL_SEC: '0.05',
    ...extra,
  });

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-exit-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('0: a cycle that runs, and --version', async () => {
    const r = await runMain(['start', '--cycles', '1'], env());
    expect({ code: r.code, error: r.stderr.match(/gpu-scaler: .*/)?.[0] ?? null }).toEqual({ code: 0, error: null });
    expect(r.stdout).toContain('TASK COUNT (Cycle #1)');
    expect((await runMain(['--version'], {})).code).toBe(0);
  });

  test('2: bad usage, from commander and from our own checks, and an invalid setting', async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['events', '--no-such-flag'], env(), /unknown option '--no-such-flag'/],
      [['frobnicate'], env(), /unknown command 'frobnicate'/],
      [['explain', '--cycle'], env(), /option '--cycle <n>' argument missing/],
      [['start', '--cycles', '0'], env(), /--cycles 0 is not allowed/],
      [['start', '--cycles', '1'], env({ MAX_WORKERS: 'lots' }), /MAX_WORKERS/],
    ];
    for (const [args, e, message] of cases) {
      const r = await runMain(args, e);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(message);
    }
  });

  test('3: nothing found', async () => {
    const r = await runMain(['explain', '--cycle', '9999'], env());
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no cycle #9999 in the store/);
  });

  test('1: a runtime failure, such as DB_LOGGING_REQUIRED when database logging cannot start', async () => {
    const store = await openStore({ target: `pglite://${path.join(dir, 'db')}`, registry: appRegistry });
    await store.db.exec(`create function refuse() returns trigger language plpgsql as $$
      begin raise exception 'system_logs is read-only today'; end $$;
      create trigger refuse before insert on system_logs for each row execute function refuse();`);
    await store.close();
    const r = await runMain(['start', '--cycles', '1'], env({ DB_LOGGING_REQUIRED: 'true' }));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/DB_LOGGING_REQUIRED=true: exiting/);
  });
});
