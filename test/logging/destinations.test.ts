import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { DbLoggingStats } from '../../events/health';
import { createLogging, DbLoggingRequiredError, type Logging, type LoggingOptions } from '../../src/logging/index';
import { Capture, fakeClock, readIfExists, T0, tempDir } from './helpers';

/** Destinations without a database: stdout, the stderr mirror, the log file. */
describe('logging without a database', () => {
  let dir: string;
  let stdout: Capture;
  let stderr: Capture;
  let logging: Logging | undefined;

  beforeEach(() => {
    dir = tempDir();
    stdout = new Capture();
    stderr = new Capture();
  });
  afterEach(async () => {
    await logging?.close();
    logging = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const open = async (opts: LoggingOptions = {}) => {
    logging = await createLogging(
      {
        stdout,
        stderr,
        now: fakeClock().now,
        logFile: path.join(dir, 'orchestrator.log'),
        dbErrorsFile: path.join(dir, 'db_logging_errors.log'),
        ...opts,
      },
      null,
    );
    return logging;
  };

  test('pretty stdout: timestamp, level, message; a multi-line message is printed as it is', async () => {
    const { logger, close } = await open();
    logger.crit('Task count: 5 queued, 2 active', { cycle: 12 });
    logger.info('decision:\n  workers 3 -> 5\n  reason: backlog');
    await close();
    expect(stdout.text()).toBe(
      `${T0} CRIT    Task count: 5 queued, 2 active\n${T0} INFO    decision:\n  workers 3 -> 5\n  reason: backlog\n`,
    );
  });

  test('json stdout: one object per line with timestamp, level, message and the metadata', async () => {
    const { logger, close } = await open({ format: 'json' });
    logger.crit('Scaling decision: 3 -> 5', { cycle: 12, workerId: 'w1', reason: 'backlog' });
    logger.warning('two\nlines');
    await close();
    const lines = stdout.lines();
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0])).toEqual({
      timestamp: T0,
      level: 'crit',
      message: 'Scaling decision: 3 -> 5',
      cycle: 12,
      workerId: 'w1',
      reason: 'backlog',
    });
    expect(JSON.parse(lines[1])).toMatchObject({ level: 'warning', message: 'two\nlines' });
  });

  test('every syslog level exists; the level option filters, crit always passes at level crit', async () => {
    const { logger, close } = await open({ level: 'crit' });
    for (const level of ['emerg', 'alert', 'crit', 'error', 'warning', 'notice', 'info', 'debug'] as const) {
      logger[level](`at ${level}`);
    }
    await close();
    expect(stdout.lines().map((l) => l.slice(T0.length + 1))).toEqual([
      'EMERG   at emerg',
      'ALERT   at alert',
      'CRIT    at crit',
    ]);
  });

  test('an unknown level is refused', async () => {
    await expect(createLogging({ level: 'warn', stdout, stderr, logFile: null }, null)).rejects.toThrow(
      /unknown log level "warn"/,
    );
  });

  test('sizes and intervals must be integers >= 1', async () => {
    await expect(createLogging({ batchSize: 0, stdout, stderr, logFile: null }, null)).rejects.toThrow(
      'batchSize must be an integer >= 1, got 0',
    );
    await expect(createLogging({ queueMax: 2.5, stdout, stderr, logFile: null }, null)).rejects.toThrow(RangeError);
  });

  test('the log file holds the same plain lines once close() resolves', async () => {
    const { logger, close } = await open();
    logger.crit('Task count: 7', { cycle: 1 });
    logger.debug('detail');
    await close();
    expect(fs.readFileSync(path.join(dir, 'orchestrator.log'), 'utf8')).toBe(
      `${T0} CRIT    Task count: 7\n${T0} DEBUG   detail\n`,
    );
  });

  test('the log file defaults to orchestrator.log in the working directory; null disables it', async () => {
    const cwd = jest.spyOn(process, 'cwd').mockReturnValue(dir);
    try {
      const first = await createLogging({ stdout, stderr, now: fakeClock().now }, null);
      first.logger.crit('to the default file');
      await first.close();
      expect(readIfExists(path.join(dir, 'orchestrator.log'))).toBe(`${T0} CRIT    to the default file\n`);

      fs.rmSync(path.join(dir, 'orchestrator.log'));
      const second = await createLogging({ stdout, stderr, logFile: null }, null);
      second.logger.crit('nowhere on disk');
      await second.close();
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      cwd.mockRestore();
    }
  });

  test('mirror writes "<ISO timestamp> <line>" straight to stderr, not to stdout', async () => {
    const clock = fakeClock();
    const { mirror } = await open({ now: clock.now });
    mirror('TASKS queued=5 active=2');
    clock.advance(1500);
    mirror('DECISION 3 -> 5');
    expect(stderr.text()).toBe(`${T0} TASKS queued=5 active=2\n2024-05-01T12:00:01.500Z DECISION 3 -> 5\n`);
    expect(stdout.text()).toBe('');
  });

  test('mirror never throws: not on a stream whose write throws, nor on a destroyed one', async () => {
    const throwing = new Writable({
      write() {
        throw new Error('EPIPE');
      },
    });
    const broken = await open({ stderr: throwing });
    expect(() => broken.mirror('still running')).not.toThrow();
    await broken.close();

    const destroyed = new Capture();
    destroyed.destroy();
    logging = await open({ stderr: destroyed });
    expect(() => logging?.mirror('still running')).not.toThrow();
    await new Promise((r) => setImmediate(r)); // the write error is emitted asynchronously: it must be swallowed
  });

  test('without a database: db logging is off and healthy; flush and a second close are no-ops', async () => {
    const l = await open();
    const stats = l.dbStats();
    expect(DbLoggingStats.parse(stats)).toEqual(stats);
    expect(stats).toEqual({
      enabled: false,
      healthy: true,
      initError: null,
      sent: 0,
      failed: 0,
      dropped: 0,
      queueSize: 0,
      errorRate: 0,
    });
    await l.flush();
    await l.close();
    await l.close();
    expect(() => l.logger.crit('after close')).not.toThrow();
  });

  test('dbLogging asked for without a database: init fails, the other destinations keep working', async () => {
    const l = await open({ dbLogging: true });
    l.logger.crit('Task count: 1');
    await l.close();
    expect(l.dbStats()).toMatchObject({
      enabled: true,
      healthy: false,
      initError: 'DbLoggingUnavailableError: no database was given',
    });
    expect(stdout.lines()[0]).toBe(
      `${T0} CRIT    ❌ CRITICAL: Database logging initialization FAILED: DbLoggingUnavailableError: no database was given`,
    );
    expect(stdout.lines()[1]).toBe(`${T0} CRIT    Task count: 1`);
    expect(readIfExists(path.join(dir, 'db_logging_errors.log'))).toContain('error type: DbLoggingUnavailableError');
  });

  test('dbLoggingRequired without a database rejects with DbLoggingRequiredError after writing the error file', async () => {
    const err = await open({ dbLoggingRequired: true, dbTarget: 'embedded PGlite at ./data' }).catch((e) => e);
    expect(err).toBeInstanceOf(DbLoggingRequiredError);
    expect(err.errorType).toBe('DbLoggingUnavailableError');
    const written = readIfExists(path.join(dir, 'db_logging_errors.log'));
    expect(written).toContain('DATABASE LOGGING INITIALIZATION FAILED');
    expect(written).toContain('database: embedded PGlite at ./data');
    expect(written).toContain('required: yes');
  });
});
