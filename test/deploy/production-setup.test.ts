/**
 * docs/operating.md "Production setup", step by step as written, on the shared server (a fresh database and
 * logins per run), and a failed `migrate` leaving nothing applied (PGlite and the server).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import postgres from 'postgres';
import type { CliIo } from '../../src/cli/context';
import { main } from '../../src/cli/main';
import type { Db } from '../../src/store/db';
import { openPostgresDb } from '../../src/store/db-postgres';
import { loadMigrations, type Migration, MigrationError, migrate } from '../../src/store/migrator';
import { openDb } from '../../src/store/open';
import { packageRoot } from '../../src/util/package-root';
import { TEST_DATABASE_URL } from '../helpers/backends';
import { Capture } from '../helpers/harness';

const run = async (args: string[], env: Record<string, string>) => {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIo = { stdout, stderr, stdin: Readable.from([]), env, isTTY: false };
  const code = await main(['node', 'gpu-scaler', ...args], io);
  return { code, stdout: stdout.text, stderr: stderr.text };
};

/** The shipped migrations, with one that fails after them. */
const withBroken = (): Migration[] => {
  const shipped = loadMigrations();
  const last = shipped[shipped.length - 1].version;
  return [
    ...shipped,
    { version: last + 1, name: `${last + 1}_broken.sql`, sql: 'select no_such_function()', checksum: 'x' },
  ];
};

async function expectNothingApplied(db: Db, schema: string): Promise<void> {
  const err = await migrate(db, withBroken()).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MigrationError);
  expect((err as Error).message).toMatch(/_broken\.sql failed: .*no_such_function.*none is applied/);
  const [r] = await db.query<{ migrations: string | null; events: string | null }>(
    `select to_regclass(format('%I.schema_migrations', $1::text))::text as migrations,
            to_regclass(format('%I.events', $1::text))::text as events`,
    [schema],
  );
  expect(r).toEqual({ migrations: null, events: null });
  // fixed (here: without the broken file), it applies them all
  expect((await migrate(db)).applied).toEqual(loadMigrations().map((m) => m.name));
}

describe('a failed migrate leaves nothing applied', () => {
  test('PGlite', async () => {
    const db = await openDb({ kind: 'memory' });
    try {
      await expectNothingApplied(db, db.schema);
    } finally {
      await db.close();
    }
  }, 120_000);

  (TEST_DATABASE_URL ? test : test.skip)(
    'PostgreSQL (a fresh schema)',
    async () => {
      const schema = `gs_atomic_${process.pid}_${Date.now()}`;
      const db = await openPostgresDb({ url: TEST_DATABASE_URL as string, schema, max: 2 });
      try {
        await expectNothingApplied(db, schema);
      } finally {
        await db.exec(`drop schema if exists ${schema} cascade`).catch(() => {});
        await db.close();
      }
    },
    120_000,
  );
});

(TEST_DATABASE_URL ? describe : describe.skip)('docs/operating.md "Production setup", as written', () => {
  const suffix = `${process.pid}_${Date.now() % 100000}`;
  const names = {
    gpu_scaler_owner: `gs_owner_${suffix}`,
    gpu_scaler_service: `gs_service_${suffix}`,
    gpu_scaler_query: `gs_query_${suffix}`,
  };
  const database = `gs_prod_${suffix}`;
  const page = fs.readFileSync(path.join(packageRoot(), 'docs/operating.md'), 'utf8');
  const start = page.indexOf('\n## Production setup');
  const section = page.slice(start, page.indexOf('\n## ', start + 1));
  const [sqlBlock, shBlock] = [/```sql\n([\s\S]*?)```/.exec(section)?.[1], /```sh\n([\s\S]*?)```/.exec(section)?.[1]];
  let admin: postgres.Sql;

  /** The block with this run's names: logins and database unique to it; the group roles as they are (cluster-wide). */
  const localize = (text: string) =>
    text
      .replace(/\bgpu_scaler_(owner|service|query)\b/g, (m) => names[m as keyof typeof names])
      .replace(/(database |@db\/|\\c )gpu_scaler\b/g, `$1${database}`)
      .replace(/password '…'/g, "password 'x'");
  const url = (user: string) => {
    const u = new URL(TEST_DATABASE_URL as string);
    u.username = user;
    u.password = 'x';
    u.pathname = `/${database}`;
    return u.toString();
  };

  beforeAll(() => {
    admin = postgres(TEST_DATABASE_URL as string, { max: 1, onnotice: () => {} });
  });

  afterAll(async () => {
    await admin.unsafe(`drop database if exists ${database} with (force)`).catch(() => {});
    for (const role of Object.values(names)) await admin.unsafe(`drop role if exists ${role}`).catch(() => {});
    await admin.end();
  });

  test('the superuser block, migrate as the owner, sql as the reader and as the owner', async () => {
    expect(sqlBlock).toBeDefined();
    expect(shBlock).toBeDefined();
    const [before, after] = localize(sqlBlock as string).split(/^\\c \S+\n/m);
    expect(after).toBeDefined(); // it switches to the new database for the per-database step
    for (const statement of before.split(';').map((s) => s.replace(/--.*$/gm, '').trim())) {
      if (!statement) continue;
      // the group roles are cluster-wide: another test (or an earlier run) may have made them
      const group = /^create role (gpu_scaler_(?:writer|reader)) nologin$/.exec(statement);
      if (group) {
        const [{ n }] = await admin.unsafe<{ n: number }[]>(
          `select count(*)::int as n from pg_roles where rolname = '${group[1]}'`,
        );
        if (n > 0) continue;
      }
      await admin.unsafe(statement);
    }
    const adminInDb = new URL(TEST_DATABASE_URL as string);
    adminInDb.pathname = `/${database}`;
    const inDb = postgres(adminInDb.toString(), { max: 1, onnotice: () => {} });
    try {
      for (const statement of after.split(';').map((s) => s.replace(/--.*$/gm, '').trim()))
        if (statement) await inDb.unsafe(statement);
    } finally {
      await inDb.end();
    }

    // the sh block, line by line: VAR=url gpu-scaler <command> [args]
    const lines = localize(shBlock as string)
      .split('\n')
      .filter((l) => /^[A-Z_]+=\S+ gpu-scaler /.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) {
      const m = /^([A-Z_]+)=postgres:\/\/([a-z0-9_]+):…@db\/\S+ gpu-scaler (\w+)(?: "(.*)")?/.exec(line);
      expect(m).not.toBeNull();
      const [, variable, user, command, query] = m as RegExpExecArray;
      if (command === 'start') continue; // the service: test/store/roles.postgres.test.ts runs it as a writer
      const r = await run([command, ...(query ? [query] : [])], { [variable]: url(user) });
      expect([line, r.stderr]).toEqual([line, '']);
      expect([line, r.code]).toEqual([line, 0]);
      if (command === 'migrate') expect(r.stdout).not.toContain('note:');
      if (command === 'sql') expect(r.stdout).toBe('(0 rows)\n'); // the empty workers table, read
    }
  }, 180_000);
});
