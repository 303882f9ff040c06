import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appRegistry } from '../../events/index';
import { loadConfig } from '../../src/config';
import { runService } from '../../src/service';
import { openStore } from '../../src/store/index';
import { Capture } from '../helpers/harness';
import { waitFor } from '../helpers/wait';

/** The service as `npm start` runs it, on an embedded store in a temporary directory. */
describe('the service', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-service-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string> = {}) => ({
    DATABASE_URL: `pglite://${path.join(dir, 'db')}`,
    LOG_FILE: path.join(dir, 'orchestrator.log'),
    DB_LOGGING_ERRORS_FILE: path.join(dir, 'db_logging_errors.log'),
    POLL_INTERVAL_SEC: '0.05',
    ...extra,
  });

  test('runs cycles on the embedded store, prints its configuration, and resumes the cycle count', async () => {
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await runService({ config: loadConfig(env()), maxCycles: 2, stdout, stderr });
    expect(code).toBe(0);
    expect(stdout.text).toContain('effective configuration:');
    expect(stdout.text).toContain('MAX_ACTIVE_GPUS=10');
    expect(stdout.text).toContain('🔢 TASK COUNT (Cycle #1): Queued=0, Active=0, Total=0');
    expect(stdout.text).toContain('🔢 TASK COUNT (Cycle #2)');
    expect(stderr.text).toContain('TASK COUNT cycle=2 queued=0 active=0 total=0');
    expect(fs.readFileSync(path.join(dir, 'orchestrator.log'), 'utf8')).toContain('🎯 SCALING DECISION (Cycle #2)');

    const again = new Capture();
    expect(await runService({ config: loadConfig(env()), maxCycles: 1, stdout: again, stderr: new Capture() })).toBe(0);
    expect(again.text).toContain('🔢 TASK COUNT (Cycle #3)');
  });

  test('DB_LOGGING_REQUIRED=true exits non-zero when database logging cannot start; without it the loop runs', async () => {
    const store = await openStore({ target: `pglite://${path.join(dir, 'db')}`, registry: appRegistry });
    await store.db.exec(`create function refuse() returns trigger language plpgsql as $$
      begin raise exception 'system_logs is read-only today'; end $$;
      create trigger refuse before insert on system_logs for each row execute function refuse();`);
    await store.close();

    const stderr = new Capture();
    const code = await runService({
      config: loadConfig(env({ DB_LOGGING_REQUIRED: 'true' })),
      maxCycles: 1,
      stdout: new Capture(),
      stderr,
    });
    expect(code).toBe(1); // a failure, not bad usage
    expect(stderr.text).toMatch(/DB_LOGGING_REQUIRED=true: exiting/);
    const errors = fs.readFileSync(path.join(dir, 'db_logging_errors.log'), 'utf8');
    expect(errors).toContain('system_logs is read-only today');

    const stdout = new Capture();
    const ok = await runService({ config: loadConfig(env()), maxCycles: 1, stdout, stderr: new Capture() });
    expect(ok).toBe(0);
    expect(stdout.text).toMatch(/❌ CRITICAL: Database logging initialization FAILED: \w+/);
    expect(stdout.text).toContain('🔢 TASK COUNT (Cycle #');
  });

  test('a log file that cannot be written (a full disk) is counted and reported by the health check', async () => {
    const stdout = new Capture();
    const db = `pglite://${path.join(dir, 'db-full-disk')}`;
    const config = loadConfig(
      env({ DATABASE_URL: db, LOG_FILE: '/dev/full', HEALTH_CHECK_EVERY_CYCLES: '1', POLL_INTERVAL_SEC: '0.2' }),
    );
    // The log file's writes fail asynchronously (the file is opened and written off the main
    // thread, and the failure is told when the event loop next turns, which a busy machine and the
    // embedded database's work can put off past several cycles): a check made before then rightly
    // counts nothing. So the service runs until a check has reported the failure, not for a fixed
    // number of cycles.
    const stop = new AbortController();
    const running = runService({ config, signal: stop.signal, stdout, stderr: new Capture() });
    let ended = false; // a service that stopped by itself fails below, not after the wait's timeout
    running.then(
      () => {
        ended = true;
      },
      () => {
        ended = true;
      },
    );
    try {
      await waitFor(
        () => /HEALTH CHECK \(Cycle #\d+\): DEGRADED/.test(stdout.text) || ended,
        'a degraded health check',
        30_000,
      );
    } finally {
      stop.abort();
    }
    expect(await running).toBe(0);
    const store = await openStore({ target: db, registry: appRegistry, listen: false });
    try {
      const checks = (await store.readStream('health')).filter((e) => e.type === 'HealthChecked');
      const data = checks[checks.length - 1]?.data;
      expect(data?.status).toBe('degraded');
      expect(data?.logDestinations).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ destination: 'file', target: '/dev/full', failures: expect.any(Number) }),
        ]),
      );
      const file = data?.logDestinations?.find((d) => d.destination === 'file');
      expect(file?.failures).toBeGreaterThan(0);
      expect(file?.lastError).toMatch(/ENOSPC/);
      expect(data?.problems.join('; ')).toMatch(/log file \/dev\/full: \d+ writes? failed \(last: .*ENOSPC/);
    } finally {
      await store.close();
    }
    expect(stdout.text).toMatch(/HEALTH CHECK \(Cycle #\d+\): DEGRADED - .*log file \/dev\/full/);
  });

  test('LOG_FILE in a directory that does not exist stops start-up (exit 2), creating nothing', async () => {
    const missing = path.join(dir, 'no-such-dir');
    const stderr = new Capture();
    const config = loadConfig(env({ LOG_FILE: path.join(missing, 'orchestrator.log') }));
    expect(await runService({ config, maxCycles: 1, stdout: new Capture(), stderr })).toBe(2);
    expect(stderr.text).toContain(
      `LOG_FILE=${path.join(missing, 'orchestrator.log')}: the directory ${missing} does not exist`,
    );
    expect(fs.existsSync(missing)).toBe(false);
  });
});
