import postgres from 'postgres';
import { parseTaskCount } from '../../src/sources/source';
import { createSqlSource, type SqlSourceOptions, type SqlTaskSource, toCount } from '../../src/sources/sql';
import type { Db } from '../../src/store/db';
import { openPgliteDb } from '../../src/store/db-pglite';
import { openPostgresDb } from '../../src/store/db-postgres';
import { singleStatement } from '../../src/util/sql-statements';
import { freshSchema, TEST_DATABASE_URL } from '../helpers/backends';

type SourceOpts = Omit<SqlSourceOptions, 'db' | 'url'>;

interface Fixture {
  /** A source for `query` where `{t}` stands for the jobs table. */
  source(opts: SourceOpts): SqlTaskSource;
  /** Runs setup SQL where `{t}` stands for the jobs table. */
  exec(sql: string): Promise<void>;
  count(sql: string): Promise<number>;
  close(): Promise<void>;
}

const fetchOnce = (src: SqlTaskSource, signal = new AbortController().signal) => src.fetch({ workerIds: [], signal });

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

/** A store database (PGlite or server) with a jobs table, `{t}` being its qualified name. */
function storeFixture(db: Db, table: string, viaUrl?: string): Fixture {
  const sources: SqlTaskSource[] = [];
  const sub = (s: string) => s.split('{t}').join(table);
  return {
    source(opts) {
      const src = createSqlSource(
        viaUrl ? { ...opts, query: sub(opts.query), url: viaUrl } : { ...opts, query: sub(opts.query), db },
      );
      sources.push(src);
      return src;
    },
    exec: (s) => db.exec(sub(s)),
    count: async (s) => Number((await db.query<{ n: number }>(sub(s)))[0].n),
    async close() {
      for (const s of sources) await s.close();
    },
  };
}

const COUNT_QUERY = `select count(*) filter (where status = 'queued') as queued,
                            count(*) filter (where status = 'active') as active
                       from {t};`;

function sqlSourceContract(label: string, open: () => Promise<Fixture>, opts: { embedded: boolean; url: boolean }) {
  describe(label, () => {
    let f: Fixture;

    beforeAll(async () => {
      f = await open();
      await f.exec(`create table {t} (id serial primary key, status text not null);
                    insert into {t} (status) values ('queued'), ('queued'), ('queued'), ('active'), ('done');`);
    });

    afterAll(async () => {
      await f?.close();
    });

    test('a good query gives numbers, and validates', async () => {
      const src = f.source({ query: COUNT_QUERY });
      expect(src.name).toBe('sql');
      const raw = await fetchOnce(src);
      expect(raw).toEqual({ queued: 3, active: 1, workers: null });
      expect(parseTaskCount(raw, 1000)).toEqual({ ok: true, value: { queued: 3, active: 1, workers: null } });
    });

    test('bigint and numeric counts arrive as numbers; other values are left for validation', async () => {
      const src = f.source({
        query: `select sum(id)::numeric as queued, count(*)::bigint as active, 1.5::numeric as extra from {t}`,
        name: 'jobs-sql',
      });
      expect(src.name).toBe('jobs-sql');
      expect(await fetchOnce(src)).toEqual({ queued: 15, active: 5, workers: null });

      const odd = f.source({ query: `select 2.5::numeric as queued, 'many'::text as active` });
      const raw = await fetchOnce(odd);
      expect(raw).toEqual({ queued: '2.5', active: 'many', workers: null });
      const parsed = parseTaskCount(raw, 1000);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.reason).toContain('queued: not a number (got string)');
    });

    test('a query that writes is refused: the transaction is read-only', async () => {
      const before = await f.count('select count(*) as n from {t}');
      const src = f.source({ query: `insert into {t} (status) values ('queued') returning 1 as queued, 1 as active` });
      const err = await failure(fetchOnce(src));
      expect(err.message).toMatch(/^TASK_COUNT_SQL may not write: it runs in a read-only transaction \(.*read-only/);
      expect(await f.count('select count(*) as n from {t}')).toBe(before);
    });

    test('a second statement is refused before anything runs', () => {
      expect(() => f.source({ query: `select 1 as queued, 1 as active; delete from {t}` })).toThrow(
        'TASK_COUNT_SQL must be a single statement',
      );
    });

    test('a slow query is stopped by the statement timeout', async () => {
      const src = f.source({
        query: `select 1 as queued, 1 as active from pg_sleep(${opts.embedded ? 0.5 : 5})`,
        statementTimeoutMs: 100,
      });
      const err = await failure(fetchOnce(src));
      expect(err.message).toMatch(
        opts.embedded
          ? /^TASK_COUNT_SQL took \d+ ms, over its 100 ms statement timeout/
          : /^TASK_COUNT_SQL was cancelled by its 100 ms statement timeout/,
      );
      // the source still works afterwards
      expect(await fetchOnce(f.source({ query: COUNT_QUERY }))).toEqual({ queued: 3, active: 1, workers: null });
    });

    test('wrong columns: a clear error', async () => {
      const src = f.source({ query: `select count(*) as waiting, 0 as running from {t}` });
      const err = await failure(fetchOnce(src));
      expect(err.message).toBe(
        'TASK_COUNT_SQL must return one row with columns queued and active; got columns waiting, running',
      );
    });

    test('zero rows: a clear error', async () => {
      const src = f.source({ query: `select 1 as queued, 1 as active from {t} where status = 'nope'` });
      const err = await failure(fetchOnce(src));
      expect(err.message).toBe('TASK_COUNT_SQL must return one row with columns queued and active; got no rows');
    });

    test('several rows: a clear error', async () => {
      const src = f.source({ query: `select status, 1 as queued, 1 as active from {t} group by status` });
      const err = await failure(fetchOnce(src));
      expect(err.message).toBe('TASK_COUNT_SQL must return one row with columns queued and active; got 3 rows');
    });

    test('a broken query: the database message', async () => {
      const err = await failure(fetchOnce(f.source({ query: 'select queued, active from no_such_table' })));
      expect(err.message).toMatch(/^TASK_COUNT_SQL failed: .*no_such_table/);
    });

    if (opts.url) {
      test("the caller's signal cancels a running query", async () => {
        const src = f.source({ query: 'select 1 as queued, 1 as active from pg_sleep(5)' });
        const abort = new AbortController();
        const p = fetchOnce(src, abort.signal);
        setTimeout(() => abort.abort(), 200);
        const err = await failure(p);
        expect(err.message).toBe('TASK_COUNT_SQL was cancelled: the caller gave up waiting');
      });
    }
  });
}

describe('sql task source', () => {
  sqlSourceContract(
    'pglite (the store database)',
    async () => {
      const db = await openPgliteDb({});
      const f = storeFixture(db, 'jobs');
      return {
        ...f,
        async close() {
          await f.close();
          await db.close();
        },
      };
    },
    { embedded: true, url: false },
  );

  const server = TEST_DATABASE_URL ? describe : describe.skip;
  server('postgres server', () => {
    const url = TEST_DATABASE_URL as string;
    const schemas: string[] = [];
    const opened: Db[] = [];
    const openServer = async (viaUrl: boolean) => {
      const schema = freshSchema('src');
      schemas.push(schema);
      const db = await openPostgresDb({ url, schema, max: 2 });
      opened.push(db);
      await db.exec(`create schema "${schema}"`);
      return storeFixture(db, `"${schema}".jobs`, viaUrl ? url : undefined);
    };

    afterAll(async () => {
      for (const db of opened) await db.close().catch(() => {});
      const admin = postgres(url, { max: 1, onnotice: () => {} });
      try {
        for (const s of schemas) await admin.unsafe(`drop schema if exists "${s}" cascade`);
      } finally {
        await admin.end();
      }
    });

    sqlSourceContract('the store database', () => openServer(false), { embedded: false, url: false });
    sqlSourceContract('TASKS_DATABASE_URL (its own pool)', () => openServer(true), { embedded: false, url: true });
  });

  test('configuration mistakes are refused up front', () => {
    expect(() => createSqlSource({ query: '  ; ' })).toThrow('TASK_COUNT_SQL is empty');
    expect(() => createSqlSource({ query: 'select 1 as queued, 1 as active' })).toThrow(
      'needs TASKS_DATABASE_URL or the store database',
    );
    expect(() => createSqlSource({ query: 'select 1', url: 'mysql://x' })).toThrow('postgres:// or postgresql://');
    expect(() => createSqlSource({ query: 'select 1', url: 'postgres://h/db', statementTimeoutMs: 0 })).toThrow(
      'positive whole number',
    );
  });
});

describe('toCount', () => {
  test('integer-looking strings and bigints become numbers, anything else is left alone', () => {
    expect(toCount('51')).toBe(51);
    expect(toCount('-2')).toBe(-2);
    expect(toCount(12n)).toBe(12);
    expect(toCount(7)).toBe(7);
    expect(toCount('5.0')).toBe('5.0');
    expect(toCount(' 5')).toBe(' 5');
    expect(toCount('')).toBe('');
    expect(toCount(null)).toBeNull();
    expect(toCount(undefined)).toBeUndefined();
  });
});

describe('singleStatement', () => {
  test('strips trailing semicolons, whitespace and comments', () => {
    expect(singleStatement('select 1;')).toBe('select 1');
    expect(singleStatement('  select 1 ;; \n -- done\n /* really */ ')).toBe('select 1');
  });

  test('semicolons inside strings, identifiers, comments and dollar quotes are not statement ends', () => {
    const q = `select 'a;b' as "x;y", E'it\\'s;' as e, $$;$$ as d, $tag$ ; $ $tag$ as t -- ; here
               /* ; /* nested ; */ ; */ from t`;
    expect(singleStatement(q)).toBe(q);
    expect(singleStatement("select 'it''s; fine' as s")).toBe("select 'it''s; fine' as s");
    expect(singleStatement('select a$b$c from t')).toBe('select a$b$c from t');
  });

  test('a second statement is refused', () => {
    expect(() => singleStatement('select 1; select 2')).toThrow('must be a single statement');
    expect(() => singleStatement("select 1; 'x'")).toThrow('must be a single statement');
    expect(() => singleStatement('commit; delete from tasks', 'TASK_COUNT_SQL')).toThrow(
      'TASK_COUNT_SQL must be a single statement',
    );
  });

  test('an empty query is refused', () => {
    expect(() => singleStatement(' -- nothing\n ; ')).toThrow('the query is empty');
  });
});
