import { splitStatements } from '../../src/util/sql-statements';
import { describeOnStores, type RecordedEvent, runMain, useTimelineStore } from './run-cli';

const JUMP_AT = '2026-11-27T18:25:42.000Z';
const TABLES = 'events, workers, scaling_decisions, anomalies, health_summaries, system_logs, tasks';

/** The fields these assertions read of any event (a widening of its typed data, not a cast). */
type Data = { readonly [k: string]: unknown; cycle?: number | null; at?: string };
const data = (e: RecordedEvent): Data => e.data;

let dir: string;
let recorded: RecordedEvent[];
const env = () => ({ DATABASE_URL: `pglite://${dir}` });
const cells = (line: string) => line.split('|').map((c) => c.trim());

useTimelineStore((d, r) => {
  dir = d;
  recorded = r;
});

describe('splitStatements', () => {
  test.each([
    ['select 1', ['select 1']],
    ['select 1;', ['select 1']],
    ['  select 1 ; -- done\n', ['select 1']],
    ["select ';' as semi, 'it''s; fine'", ["select ';' as semi, 'it''s; fine'"]],
    ["select E'a\\'; b' as x", ["select E'a\\'; b' as x"]],
    ['select 1 as "a;b"', ['select 1 as "a;b"']],
    ['select $$ ; $$, $tag$ $$ ; $tag$', ['select $$ ; $$, $tag$ $$ ; $tag$']],
    ['select 1 /* ; /* nested ; */ ; */ + 1', ['select 1 /* ; /* nested ; */ ; */ + 1']],
    ['select 1; select 2', ['select 1', 'select 2']],
    ['select 1; commit; insert into tasks default values', ['select 1', 'commit', 'insert into tasks default values']],
    ['-- only a comment;\n ; ', []],
  ])('%j', (text, expected) => {
    expect(splitStatements(text)).toEqual(expected);
  });
});

describe('gpu-scaler sql (main, embedded store)', () => {
  test('a psql-style table with (N rows): timestamps as ISO, jsonb as compact JSON', async () => {
    const decided = recorded.find((e) => e.type === 'ScalingDecided' && data(e).at === JUMP_AT);
    if (!decided) throw new Error('no decision at the jump');
    const r = await runMain(
      [
        'sql',
        'select cycle, decided_at, total, desired, decision, capped_by, limits from scaling_decisions ' +
          `where decided_at = '2026-11-27T18:25:42Z'`,
      ],
      env(),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(cells(lines[0])).toEqual(['cycle', 'decided_at', 'total', 'desired', 'decision', 'capped_by', 'limits']);
    expect(lines[1]).toMatch(/^-+(\+-+)+$/);
    const row = cells(lines[2]);
    expect(row.slice(0, 6)).toEqual([
      String(data(decided).cycle),
      '2026-11-27T18:25:42.000Z',
      '51',
      '4',
      'SCALE_UP',
      'MAX_WORKERS,MAX_ACTIVE_GPUS',
    ]);
    expect(row[6]).not.toContain(' ');
    expect(JSON.parse(row[6])).toEqual([
      { name: 'MAX_WORKERS', kind: 'cap', unit: 'workers', value: 10, from: 51, to: 10 },
      { name: 'MAX_ACTIVE_GPUS', kind: 'cap', unit: 'GPUs', value: 4, from: 10, to: 4 },
    ]);
    expect(lines[3]).toBe('(1 row)');
  });

  test('a write is refused with a clear error and changes nothing; the query can come on stdin', async () => {
    const r = await runMain(['sql', "insert into tasks (status) values ('queued')"], env());
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      'sql is read-only: it runs queries (SELECT, WITH, VALUES, TABLE, EXPLAIN, SHOW), not "INSERT"',
    );
    expect(r.stderr).toContain('use psql against a server');

    const count = await runMain(['sql', '--json'], env(), 'select count(*)::int as n from tasks\n');
    expect(count.code).toBe(0);
    expect(JSON.parse(count.stdout)).toEqual([{ n: 0 }]);
  });

  test("Postgres errors print the server's message, where it is, and the tables", async () => {
    const r = await runMain(['sql', 'select cycle\n  from decisions'], env());
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const err = r.stderr.split('\n');
    expect(err[0]).toBe('gpu-scaler: relation "decisions" does not exist');
    expect(err[1]).toBe('LINE 2:   from decisions');
    expect(err[2]).toBe(`${' '.repeat('LINE 2:   from '.length)}^`);
    expect(r.stderr).toContain(`hint: the store's tables: ${TABLES}`);
  });

  test('usage errors exit 2 before opening the store', async () => {
    const multi = await runMain(['sql', 'select 1; delete from events'], env());
    expect(multi.code).toBe(2);
    expect(multi.stderr).toContain('sql runs one statement at a time, and this has 2');

    const copy = await runMain(['sql', "copy events to '/tmp/events.csv'"], env());
    expect(copy.code).toBe(2);
    expect(copy.stderr).toContain(
      'sql is read-only: it runs queries (SELECT, WITH, VALUES, TABLE, EXPLAIN, SHOW), not "COPY"',
    );

    const tx = await runMain(['sql', 'commit'], env());
    expect(tx.code).toBe(2);
    expect(tx.stderr).toContain('"COMMIT" is not needed and not allowed here');

    // a transaction id or an exported snapshot would be held against the controller's readers
    for (const fn of ['pg_current_xact_id', 'txid_current', 'pg_export_snapshot']) {
      const held = await runMain(['sql', '--timeout', '0s', `select ${fn}(), pg_sleep(30)`], env());
      expect({ fn, code: held.code }).toEqual({ fn, code: 2 });
      expect(held.stderr).toContain(`sql refuses "${fn}": it takes a transaction id`);
    }

    const meta = await runMain(['sql', '\\dt'], env());
    expect(meta.code).toBe(2);
    expect(meta.stderr).toContain('psql meta-commands');

    const both = await runMain(['sql', '--json', '--csv', 'select 1'], env());
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("option '--json' cannot be used with option '--csv'");

    const noQuery = await runMain(['sql'], env());
    expect(noQuery.code).toBe(2);
    expect(noQuery.stderr).toContain('give a query: gpu-scaler sql "select count(*) from events"');

    const badTimeout = await runMain(['sql', '--timeout', 'soon', 'select 1'], env());
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toContain('--timeout "soon" is not a duration');

    const help = await runMain(['sql', '--help'], env());
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--csv');
    const helpText = help.stdout.replace(/\s+/g, ' ');
    expect(helpText).toContain(TABLES);
    expect(helpText).toContain('as the role gpu_scaler_reader');
    expect(helpText).toContain('READ_DATABASE_URL naming a login in gpu_scaler_reader is the safe setup');
    expect(helpText).toContain('Embedded (PGlite): one process and your own file');
  });
});

describeOnStores(
  'gpu-scaler sql',
  () => dir,
  (ctx) => {
    test('--csv: a header, one line per row, JSON fields quoted', async () => {
      const r = await ctx().run([
        'sql',
        '--csv',
        'select cycle, kind, message, figures from anomalies order by global_position',
      ]);
      expect(r.code).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      const anomalies = recorded.filter((e) => e.type === 'AnomalyDetected');
      expect(lines[0]).toBe('cycle,kind,message,figures');
      expect(lines).toHaveLength(anomalies.length + 1);
      const jump = anomalies.find((e) => data(e).kind === 'task_count_from_nowhere');
      const line = lines.find((l) => l.includes('task_count_from_nowhere'));
      expect(line).toMatch(new RegExp(`^${data(jump as RecordedEvent).cycle},task_count_from_nowhere,`));
      expect(line).toContain(',Task count jumped from 0 to 51,"{');
      expect(line).toContain('""previous"":0');
    });

    test('--json: rows as objects with numbers, ISO times and nested JSON', async () => {
      const r = await ctx().run([
        'sql',
        '--json',
        `select cycle, decided_at, queued, reasons, terms from scaling_decisions where decided_at = '${JUMP_AT}'`,
      ]);
      expect(r.code).toBe(0);
      const rows = JSON.parse(r.stdout);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ decided_at: JUMP_AT, queued: 51, terms: { byTasks: 51 } });
      expect(typeof rows[0].cycle).toBe('number');
      expect(rows[0].reasons).toContain('MAX_ACTIVE_GPUS=4 changed desired from 10 to 4');
    });

    test('queries of every allowed form run: parenthesised, VALUES, TABLE, SHOW, EXPLAIN', async () => {
      for (const query of [
        '(select 1 as n) union all (select 2)',
        'values (1), (2)',
        'table workers',
        'show statement_timeout',
        'explain select * from events',
        'with w as (select * from workers) select count(*) from w',
      ]) {
        const r = await ctx().run(['sql', '--json', query]);
        expect({ query, code: r.code, stderr: r.stderr }).toEqual({ query, code: 0, stderr: '' });
      }
    });

    test('an empty result says (0 rows)', async () => {
      const r = await ctx().run(['sql', "select * from workers where status = 'no-such-status'"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('(0 rows)\n');
      const j = await ctx().run(['sql', '--json', 'select * from workers where false']);
      expect(JSON.parse(j.stdout)).toEqual([]);
    });

    test('every kind of write is refused by the read-only transaction', async () => {
      for (const write of [
        "insert into tasks (status) values ('queued')",
        "update workers set status = 'failed'",
        'delete from events',
        'truncate anomalies',
        'create table scratch (a int)',
        "select nextval(pg_get_serial_sequence('tasks', 'id'))",
        'with gone as (delete from events returning 1) select count(*) from gone',
      ]) {
        const r = await ctx().run(['sql', write]);
        expect([write, r.code]).toEqual([write, 2]);
        expect(r.stderr).toContain('sql is read-only');
      }
      const cte = await ctx().run(['sql', 'with gone as (delete from events returning 1) select count(*) from gone']);
      expect(cte.stderr).toContain('sql is read-only: cannot execute');
      const sneaky = await ctx().run(['sql', "select 1; commit; insert into tasks (status) values ('queued')"]);
      expect(sneaky.code).toBe(2);
      const after = await ctx().run([
        'sql',
        '--json',
        `select (select count(*) from events)::int as events, (select count(*) from tasks)::int as tasks,
                (select count(*) from workers where status = 'failed')::int as failed,
                (select count(*) from anomalies)::int as anomalies`,
      ]);
      expect(JSON.parse(after.stdout)).toEqual([
        {
          events: recorded.length,
          tasks: 0,
          failed: 0,
          anomalies: recorded.filter((e) => e.type === 'AnomalyDetected').length,
        },
      ]);
    });

    test('--timeout cancels a long query on a server', async () => {
      if (ctx().kind !== 'postgres') return; // PGlite runs queries on the caller's thread: nothing can interrupt them
      const r = await ctx().run(['sql', '--timeout', '1s', 'select pg_sleep(10)']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('the query was cancelled after 1s (--timeout)');
    });

    test('a note when the projection tables lag behind the events', async () => {
      await ctx().writer.append('controller', [
        {
          type: 'TaskCountObserved',
          data: {
            cycle: 901,
            at: '2026-11-27T19:00:00.000Z',
            source: 'test',
            queued: 1,
            active: 0,
            total: 1,
            responseMs: 1,
            workers: null,
          },
        },
      ]);
      const r = await ctx().run(['sql', 'select count(*)::int as n from scaling_decisions']);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('the projection tables are 1 event(s) behind the events table');
    });
  },
);
