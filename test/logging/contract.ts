import fs from 'node:fs';
import path from 'node:path';
import { DbLoggingStats } from '../../events/health';
import { assessDbLogging, createLogging, DbLoggingRequiredError, type LoggingOptions } from '../../src/logging/index';
import type { Db } from '../../src/store/db';
import { migrate } from '../../src/store/migrator';
import type { TestBackend } from '../helpers/backends';
import { Capture, fakeClock, readIfExists, T0, tempDir, tick } from './helpers';

interface LogRow {
  id: number;
  created_at: string;
  source_type: string;
  source_id: string;
  log_level: string;
  message: string;
  worker_id: string | null;
  cycle_number: number | null;
  metadata: Record<string, unknown>;
}

async function logRows(db: Db): Promise<LogRow[]> {
  return db.query<LogRow>(
    `select id, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at, source_type,
            source_id, log_level, message, worker_id, cycle_number, metadata
       from system_logs order by id`,
  );
}

/** A missing relation, as PGlite (DatabaseError) and the server driver (PostgresError) report it. */
const MISSING_TABLE = /(DatabaseError|PostgresError): relation "system_logs" does not exist/;

/** Database logging against one backend: every backend must pass all of it. */
export function dbLoggingContract(makeBackend: () => TestBackend): void {
  let backend: TestBackend;
  let db: Db;
  let dir: string;
  let stdout: Capture;
  let stderr: Capture;
  let logFile: string;
  let errorsFile: string;
  const toClose: Array<{ close(): Promise<void> }> = [];

  beforeAll(() => {
    backend = makeBackend();
  });
  afterAll(async () => {
    await backend.teardown();
  });
  beforeEach(async () => {
    db = await backend.openDb();
    dir = tempDir();
    stdout = new Capture();
    stderr = new Capture();
    logFile = path.join(dir, 'orchestrator.log');
    errorsFile = path.join(dir, 'db_logging_errors.log');
  });
  afterEach(async () => {
    for (const l of toClose.splice(0)) await l.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const open = async (opts: LoggingOptions = {}) => {
    const logging = await createLogging(
      { stdout, stderr, now: fakeClock().now, logFile, dbErrorsFile: errorsFile, sourceId: 'test-host-1', ...opts },
      db,
    );
    toClose.push(logging);
    return logging;
  };

  test('the migration creates system_logs with its columns and indexes', async () => {
    await migrate(db);
    const cols = await db.query<{ column_name: string; data_type: string; is_nullable: string }>(
      `select column_name, data_type, is_nullable from information_schema.columns
        where table_schema = $1 and table_name = 'system_logs' order by ordinal_position`,
      [db.schema],
    );
    expect(cols.map((c) => [c.column_name, c.data_type, c.is_nullable])).toEqual([
      ['id', 'bigint', 'NO'],
      ['created_at', 'timestamp with time zone', 'NO'],
      ['source_type', 'text', 'NO'],
      ['source_id', 'text', 'NO'],
      ['log_level', 'text', 'NO'],
      ['message', 'text', 'NO'],
      ['worker_id', 'text', 'YES'],
      ['cycle_number', 'integer', 'YES'],
      ['metadata', 'jsonb', 'NO'],
    ]);
    const idx = await db.query<{ indexdef: string }>(
      `select indexdef from pg_indexes where schemaname = $1 and tablename = 'system_logs' order by indexname`,
      [db.schema],
    );
    const defs = idx.map((i) => i.indexdef.replace(/^.* USING /, ''));
    expect(defs).toEqual(expect.arrayContaining(['btree (created_at)', 'btree (cycle_number)', 'btree (id)']));
  });

  test('a crit line reaches stdout, the file and system_logs; the mirror reaches stderr', async () => {
    await migrate(db);
    const logging = await open({ sourceType: 'orchestrator' });
    expect(logging.dbStats()).toMatchObject({ enabled: true, healthy: true, initError: null });
    logging.logger.crit('Task count: 5 queued, 2 active', { cycle: 12, workerId: 'w1', queued: 5, active: 2 });
    logging.logger.debug('a detail', { cycle: 12 });
    logging.mirror('TASKS cycle=12 queued=5 active=2');
    await logging.flush();

    const rows = await logRows(db);
    expect(rows.map((r) => [r.log_level, r.message])).toEqual([
      ['info', 'database logging started'],
      ['info', '✅ database logging started: writing to system_logs'],
      ['crit', 'Task count: 5 queued, 2 active'],
      ['debug', 'a detail'],
    ]);
    expect(rows[2]).toMatchObject({
      created_at: T0,
      source_type: 'orchestrator',
      source_id: 'test-host-1',
      worker_id: 'w1',
      cycle_number: 12,
      metadata: { queued: 5, active: 2 },
    });
    expect(rows[3]).toMatchObject({ worker_id: null, cycle_number: 12, metadata: {} });
    expect(rows[0].metadata).toEqual({ probe: true });

    const stats = logging.dbStats();
    expect(DbLoggingStats.parse(stats)).toEqual(stats);
    expect(stats).toEqual({
      enabled: true,
      healthy: true,
      initError: null,
      sent: 3,
      failed: 0,
      dropped: 0,
      queueSize: 0,
      errorRate: 0,
    });

    await logging.close();
    expect(stdout.text()).toContain(`${T0} CRIT    Task count: 5 queued, 2 active\n`);
    expect(readIfExists(logFile)).toContain(`${T0} CRIT    Task count: 5 queued, 2 active\n`);
    expect(stderr.text()).toBe(`${T0} TASKS cycle=12 queued=5 active=2\n`);
    expect(readIfExists(errorsFile)).toBe('');
  });

  test('json format on stdout while rows still go to system_logs', async () => {
    await migrate(db);
    const logging = await open({ format: 'json' });
    logging.logger.crit('Scaling decision: 3 -> 5', { cycle: 7, from: 3, to: 5 });
    await logging.close();
    const lines = stdout.lines().map((l) => JSON.parse(l));
    expect(lines[lines.length - 1]).toEqual({
      timestamp: T0,
      level: 'crit',
      message: 'Scaling decision: 3 -> 5',
      cycle: 7,
      from: 3,
      to: 5,
    });
    const rows = await logRows(db);
    expect(rows[rows.length - 1]).toMatchObject({ cycle_number: 7, metadata: { from: 3, to: 5 } });
  });

  test('missing system_logs: init fails, the critical line names the error, the error file has the details, other destinations continue', async () => {
    const logging = await open({ dbTarget: 'test database (schema under test)' });
    const stats = logging.dbStats();
    expect(DbLoggingStats.parse(stats)).toEqual(stats);
    expect(stats.healthy).toBe(false);
    expect(stats.enabled).toBe(true);
    expect(stats.initError).toMatch(MISSING_TABLE);
    expect(assessDbLogging(stats).problems).toEqual([`database logging initialization failed: ${stats.initError}`]);

    logging.logger.crit('Task count: 3', { cycle: 1 });
    logging.mirror('TASKS 3');
    await logging.flush();
    expect(logging.dbStats()).toMatchObject({ healthy: false, initError: stats.initError, sent: 0 });
    await logging.close();

    const out = stdout.lines();
    expect(out[0]).toMatch(
      /^\S+ CRIT {4}❌ CRITICAL: Database logging initialization FAILED: (DatabaseError|PostgresError): relation "system_logs" does not exist$/,
    );
    expect(out[1]).toBe(`${T0} CRIT    Task count: 3`);
    expect(readIfExists(logFile)).toContain('❌ CRITICAL: Database logging initialization FAILED');
    expect(readIfExists(logFile)).toContain('Task count: 3');
    expect(stderr.text()).toContain('❌ CRITICAL: Database logging initialization FAILED');
    expect(stderr.text()).toContain(`${T0} TASKS 3\n`);

    const details = readIfExists(errorsFile);
    expect(details).toContain(`${T0} DATABASE LOGGING INITIALIZATION FAILED`);
    expect(details).toMatch(/error type: (DatabaseError|PostgresError)\n/);
    expect(details).toContain('message: relation "system_logs" does not exist');
    expect(details).toContain('sqlstate: 42P01');
    expect(details).toContain('database: test database (schema under test)');
    expect(details).toMatch(/stack:\n\S.*\n/);
  });

  test('dbLoggingRequired: a failed init rejects with DbLoggingRequiredError, after the error file is written', async () => {
    const err = await open({ dbLoggingRequired: true, dbTarget: 'the test store' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DbLoggingRequiredError);
    expect((err as DbLoggingRequiredError).message).toMatch(MISSING_TABLE);
    expect((err as DbLoggingRequiredError).cause).toBeDefined();
    expect(readIfExists(errorsFile)).toContain('database: the test store');
    expect(readIfExists(errorsFile)).toContain('required: yes');
    expect(stdout.text()).toContain('❌ CRITICAL: Database logging initialization FAILED');
    // the other destinations were closed: the file is complete
    expect(readIfExists(logFile)).toContain('❌ CRITICAL: Database logging initialization FAILED');
  });

  test.each([
    [
      'a trigger that raises',
      `create function refuse_logs() returns trigger language plpgsql as $$
         begin raise exception 'system_logs is read-only here'; end $$;
       create trigger refuse_logs before insert on system_logs for each row execute function refuse_logs();`,
      /system_logs is read-only here/,
    ],
    [
      'a CHECK no row passes',
      `alter table system_logs add constraint no_rows check (log_level = 'never') not valid;`,
      /no_rows/,
    ],
  ])('a table that refuses inserts (%s) fails the probe like a missing one', async (_name, ddl, why) => {
    await migrate(db);
    await db.exec(ddl);
    const logging = await open();
    expect(logging.dbStats().healthy).toBe(false);
    expect(logging.dbStats().initError).toMatch(why);
    await logging.close();
    expect(stdout.lines()[0]).toContain('❌ CRITICAL: Database logging initialization FAILED: ');
    expect(readIfExists(errorsFile)).toContain('DATABASE LOGGING INITIALIZATION FAILED');
    await expect(open({ dbLoggingRequired: true })).rejects.toBeInstanceOf(DbLoggingRequiredError);
  });

  test('a failed batch is retried once then counted as failed; assessDbLogging reports the error rate', async () => {
    await migrate(db);
    const clock = fakeClock();
    const logging = await open({ now: clock.now });
    for (let i = 1; i <= 8; i += 1) logging.logger.info(`ok ${i}`, { cycle: i });
    await logging.flush();
    expect(logging.dbStats()).toMatchObject({ sent: 9, failed: 0, errorRate: 0, healthy: true });

    await db.exec(`
      create function refuse_marked() returns trigger language plpgsql as $$
        begin
          if new.message like '%REFUSE%' then raise exception 'refused: %', new.message; end if;
          return new;
        end $$;
      create trigger refuse_marked before insert on system_logs for each row execute function refuse_marked();`);
    for (let i = 1; i <= 3; i += 1) logging.logger.crit(`REFUSE ${i}`);
    await logging.flush();

    const stats = logging.dbStats();
    expect(DbLoggingStats.parse(stats)).toEqual(stats);
    expect(stats).toEqual({
      enabled: true,
      healthy: false,
      initError: null,
      sent: 9,
      failed: 3,
      dropped: 0,
      queueSize: 0,
      errorRate: 0.25,
    });
    expect(assessDbLogging(stats)).toEqual({
      healthy: false,
      problems: ['database logging error rate 25.0% > 10% (3 of 12 rows failed)'],
    });
    expect((await logRows(db)).filter((r) => r.message.includes('REFUSE'))).toEqual([]);

    // the error file gets one line, then (within 10 s) nothing more until the next line or close()
    expect(readIfExists(errorsFile)).toMatch(
      /^2024-05-01T12:00:00.000Z system_logs batch write FAILED after one retry, 3 rows dropped: (DatabaseError|PostgresError): refused: REFUSE 1\n$/,
    );
    logging.logger.crit('REFUSE 4');
    await logging.flush();
    expect(readIfExists(errorsFile).split('\n').filter(Boolean)).toHaveLength(1);
    clock.advance(10_000);
    logging.logger.crit('REFUSE 5');
    await logging.flush();
    const lines = readIfExists(errorsFile).split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain('1 rows dropped');
    expect(lines[1]).toContain('(+1 more failed batches, 1 rows, since 2024-05-01T12:00:00.000Z; last error:');
    expect(logging.dbStats()).toMatchObject({ sent: 9, failed: 5 });

    // and good rows still go through afterwards
    logging.logger.info('fine again');
    await logging.flush();
    expect(logging.dbStats()).toMatchObject({ sent: 10, failed: 5 });
  });

  test('a batch that fails once and succeeds on the retry counts as sent', async () => {
    await migrate(db);
    const logging = await open();
    await logging.flush();
    await db.exec(`
      create sequence flaky_seq;
      create function flaky() returns trigger language plpgsql as $$
        begin
          if nextval('flaky_seq') = 1 then raise exception 'first attempt fails'; end if;
          return null;
        end $$;
      create trigger flaky before insert on system_logs for each statement execute function flaky();`);
    logging.logger.crit('Task count: 4', { cycle: 3 });
    logging.logger.crit('Scaling decision: 2 -> 4', { cycle: 3 });
    await logging.flush();
    expect(logging.dbStats()).toMatchObject({ sent: 3, failed: 0, healthy: true });
    expect((await logRows(db)).slice(-2).map((r) => r.message)).toEqual(['Task count: 4', 'Scaling decision: 2 -> 4']);
    expect(readIfExists(errorsFile)).toBe('');
  });

  test('a full queue drops the oldest entries and counts them', async () => {
    await migrate(db);
    const logging = await open({ queueMax: 5, batchSize: 1000, flushMs: 3_600_000 });
    for (let i = 1; i <= 12; i += 1) logging.logger.info(`line ${i}`);
    await tick();
    // the startup line plus 12: 13 entries through a queue of 5
    expect(logging.dbStats()).toMatchObject({ dropped: 8, queueSize: 5, sent: 0 });
    await logging.flush();
    const stats = logging.dbStats();
    expect(stats).toMatchObject({ dropped: 8, queueSize: 0, sent: 5, healthy: true });
    expect((await logRows(db)).map((r) => r.message)).toEqual([
      'database logging started',
      'line 8',
      'line 9',
      'line 10',
      'line 11',
      'line 12',
    ]);
    expect(assessDbLogging(stats, { maxDropped: 5 }).problems).toEqual([
      'database logging dropped 8 entries > 5 (queue full)',
    ]);
  });

  test('a full batch is written without waiting for the timer', async () => {
    await migrate(db);
    const logging = await open({ batchSize: 3, flushMs: 3_600_000 });
    for (let i = 1; i <= 5; i += 1) logging.logger.info(`line ${i}`);
    // wait for the write the full batch started (no flush() call: that would write everything)
    for (let i = 0; i < 500 && logging.dbStats().sent < 3; i += 1) await new Promise((r) => setTimeout(r, 10));
    expect(logging.dbStats().sent).toBeGreaterThanOrEqual(3);
    await logging.close();
    expect(logging.dbStats()).toMatchObject({ sent: 6, queueSize: 0 });
  });

  test('secrets never reach any destination', async () => {
    await migrate(db);
    const secret = 'tok-9f8e7d6c';
    const logging = await open({ secrets: [secret] });
    logging.logger.crit(`calling provider with ${secret}`, {
      cycle: 4,
      workerId: `w-${secret}`,
      url: 'postgres://scaler:hunter2@db.internal:5432/gpu',
      nested: { headers: [`Bearer ${secret}`] },
    });
    logging.mirror(`spawn failed: key ${secret} rejected by postgres://scaler:hunter2@db/x`);
    await logging.close();

    const rows = await logRows(db);
    const dbText = JSON.stringify(rows);
    for (const text of [stdout.text(), readIfExists(logFile), stderr.text(), dbText]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain('hunter2');
    }
    const row = rows[rows.length - 1];
    expect(row).toMatchObject({
      message: 'calling provider with ***',
      worker_id: 'w-***',
      cycle_number: 4,
      metadata: { url: 'postgres://scaler:***@db.internal:5432/gpu', nested: { headers: ['Bearer ***'] } },
    });
    expect(stderr.text()).toContain('spawn failed: key *** rejected by postgres://scaler:***@db/x');
  });

  test('secrets are redacted from the init failure report too', async () => {
    const logging = await open({ secrets: ['s3cr3t'], dbTarget: 'postgres://scaler:hunter2@db/gpu (token s3cr3t)' });
    await logging.close();
    const details = readIfExists(errorsFile);
    expect(details).toContain('database: postgres://scaler:***@db/gpu (token ***)');
    expect(details).not.toContain('hunter2');
    expect(details).not.toContain('s3cr3t');
  });
}
