import { type Command, Option } from 'commander';
import { ALL_PROJECTIONS } from '../../projections/index';
import { hasCode } from '../errors';
import { projectionLag } from '../projections/runner';
import { pgErrorCode, type Row } from '../store/db';
import type { EventStore } from '../store/event-store';
import { READER_ROLE, readAsReader } from '../store/roles';
import { splitStatements } from '../util/sql-statements';
import { CliError, type CliIo, EXIT, withStore } from './context';
import { helpExamples, onBrokenPipe, psqlTable, rowCount, toCsv, writeJsonValue } from './output';
import { parseDuration } from './time';

/** The tables an operator can query (the hint after an unknown table or column). */
const QUERYABLE_TABLES = [
  'events',
  'workers',
  'scaling_decisions',
  'anomalies',
  'health_summaries',
  'system_logs',
  'tasks',
] as const;

const COLUMNS_QUERY =
  'select table_name, column_name, data_type from information_schema.columns where table_schema = current_schema() order by table_name, ordinal_position';

const TABLES_HINT =
  `the store's tables: ${QUERYABLE_TABLES.join(', ')}; their columns: ` + `gpu-scaler sql "${COLUMNS_QUERY}"`;

const DEFAULT_TIMEOUT = '30s';

interface SqlOptions {
  format: 'table' | 'json' | 'csv';
  /** statement_timeout in ms; 0 = none. */
  timeoutMs: number;
}

export interface SqlDeps {
  withStore?: typeof withStore;
}

/** The statement without leading comments and whitespace, lower-cased words only (for keyword checks). */
function leadingWords(stmt: string, count: number): string {
  let s = stmt;
  for (;;) {
    const t = s.replace(/^\s+/, '');
    if (t.startsWith('--')) s = t.slice(t.indexOf('\n') < 0 ? t.length : t.indexOf('\n') + 1);
    else if (t.startsWith('/*')) s = t.slice(t.indexOf('*/') < 0 ? t.length : t.indexOf('*/') + 2);
    else {
      s = t;
      break;
    }
  }
  return s.split(/\s+/).slice(0, count).join(' ').toLowerCase().replace(/;$/, '');
}

const TX_CONTROL =
  /^(begin|start transaction|commit|end|rollback|abort|savepoint|release|prepare transaction|set transaction|set session characteristics)\b/;

/** The statements sql runs: queries. Everything else (SET, RESET, COPY, DO, CALL, DDL, writes, …) is refused. */
const QUERY_KEYWORDS = ['select', 'with', 'values', 'table', 'explain', 'show'] as const;

/**
 * Functions refused wherever their name appears in the statement (in a string or a quoted
 * identifier too): changing settings or the role (set_config('role', …) would undo the switch to
 * the reader role), running SQL given as text (which could build such a call), large objects,
 * advisory locks (the leader's and the migrator's), signalling other sessions, notifications, and
 * the server's files and administration. The database role is the boundary (README: "Production
 * setup"); this list is a second line for what a role could still call.
 */
const REFUSED_FUNCTIONS =
  /(set_config|query_to_xml\w*|cursor_to_xml\w*|table_to_xml\w*|schema_to_xml\w*|database_to_xml\w*|ts_stat|ts_rewrite|\blo_\w+|\bloread|\blowrite|pg_advisory\w*|pg_try_advisory\w*|pg_notify|pg_cancel_backend|pg_terminate_backend|pg_reload_conf|pg_rotate_logfile|pg_switch_wal|pg_promote|pg_create_restore_point|pg_read_file|pg_read_binary_file|pg_ls_\w+|pg_stat_file|pg_file_\w+|pg_logical_emit_message|pg_replication_\w+|pg_\w*replication_slot\w*|dblink\w*|nextval|setval)/i;

/**
 * Functions that give the query's transaction an id (or lock): an open transaction with an id was
 * where the catch-up readers' horizon stopped, so `select pg_current_xact_id(), pg_sleep(600)` with
 * `--timeout 0s` held back every spawn for ten minutes. The readers no longer wait for transactions
 * of a login that cannot write events (READ_HORIZON_SQL), and `sql` refuses to make one anyway
 * (advisory locks are refused with the other functions below).
 */
const TRANSACTION_ID_FUNCTIONS = /\b(pg_current_xact_id\w*|txid_current\w*|pg_export_snapshot)\b/i;

/** The one statement to run, or a usage error saying why not. */
function checkQuery(text: string): string {
  if (text.trim() === '') {
    throw new CliError('the query is empty: gpu-scaler sql "select …" (or pipe it on stdin)', EXIT.usage);
  }
  if (text.trimStart().startsWith('\\')) {
    throw new CliError(
      'psql meta-commands (\\d, \\dt, …) are not SQL. To list tables: gpu-scaler sql ' +
        '"select table_name from information_schema.tables where table_schema = current_schema()"',
      EXIT.usage,
    );
  }
  const statements = splitStatements(text);
  if (statements.length === 0) throw new CliError('the query has only comments: nothing to run', EXIT.usage);
  if (statements.length > 1) {
    throw new CliError(
      `sql runs one statement at a time, and this has ${statements.length}: run them one by one`,
      EXIT.usage,
    );
  }
  const words = leadingWords(statements[0], 3);
  // The first keyword, also of a parenthesised query: (select 1) union (select 2)
  const first = words.replace(/^\(+\s*/, '').split(/[\s(]/)[0];
  if (TX_CONTROL.test(words)) {
    throw new CliError(
      `sql runs each query in its own read-only transaction: "${first.toUpperCase()}" is not needed ` +
        'and not allowed here; use psql against a server for transactions and writes',
      EXIT.usage,
    );
  }
  if (!(QUERY_KEYWORDS as readonly string[]).includes(first)) {
    throw new CliError(
      `sql is read-only: it runs queries (${QUERY_KEYWORDS.map((k) => k.toUpperCase()).join(', ')}), ` +
        `not "${first.toUpperCase()}"; use psql against a server, as a user allowed to, for anything else`,
      EXIT.usage,
    );
  }
  if (/u&["']/i.test(statements[0])) {
    throw new CliError(
      'sql refuses U&\'…\' and U&"…" escapes (they can spell a refused name); write the characters themselves',
      EXIT.usage,
    );
  }
  const holds = TRANSACTION_ID_FUNCTIONS.exec(statements[0]);
  if (holds) {
    throw new CliError(
      `sql refuses "${holds[1]}": it takes a transaction id (or exports a snapshot), which an open ` +
        "query would hold against the controller's readers; ask pg_stat_activity for what sessions hold",
      EXIT.usage,
    );
  }
  const refused = REFUSED_FUNCTIONS.exec(statements[0]);
  if (refused) {
    throw new CliError(
      `sql is read-only: "${refused[0]}" is not allowed (settings, the role, large objects, locks, other ` +
        'sessions, server files and SQL run from text are out of bounds)',
      EXIT.usage,
    );
  }
  return statements[0];
}

/** psql's pointer under the error position: LINE n: … / ^ */
function caret(query: string, position: unknown): string {
  const pos = Number(position);
  if (!Number.isInteger(pos) || pos < 1 || pos > query.length + 1) return '';
  const before = query.slice(0, pos - 1);
  const lineNo = before.split('\n').length;
  const lineStart = before.lastIndexOf('\n') + 1;
  const lineEnd = query.indexOf('\n', lineStart);
  const line = query.slice(lineStart, lineEnd < 0 ? query.length : lineEnd);
  const prefix = `LINE ${lineNo}: `;
  return `\n${prefix}${line}\n${' '.repeat(prefix.length + (pos - 1 - lineStart))}^`;
}

/** A Postgres error as a message that says what happened and what to do. */
function explainSqlError(err: unknown, query: string, timeoutMs: number): CliError | null {
  const code = pgErrorCode(err);
  if (!code) return null;
  const e = err as Error & { hint?: string; position?: unknown; detail?: string };
  const msg = e.message;
  if (code === '25006') {
    return new CliError(
      `sql is read-only: ${msg}. Queries run in a read-only transaction; use psql against a server ` +
        '(DATABASE_URL=postgres://…) for writes.',
      EXIT.usage,
    );
  }
  if (code === '42601' && /multiple commands/.test(msg)) {
    return new CliError('sql runs one statement at a time: run them one by one', EXIT.usage);
  }
  if (code === '57014') {
    return new CliError(
      `the query was cancelled after ${timeoutMs / 1000}s (--timeout): narrow it (a where clause, a limit) or raise --timeout`,
    );
  }
  const lines = [`${msg}${caret(query, e.position)}`];
  if (e.detail) lines.push(`detail: ${e.detail}`);
  if (e.hint) lines.push(`hint: ${e.hint}`);
  if (['42P01', '42703', '42601', '3F000'].includes(code)) lines.push(`hint: ${TABLES_HINT}`);
  return new CliError(lines.join('\n'));
}

/**
 * Runs one read-only statement (checkQuery's rules, then readAsReader: a read-only transaction as
 * the reader role, under a statement timeout, rolled back); returns its rows.
 */
async function runReadOnly(store: EventStore, query: string, timeoutMs: number): Promise<Row[]> {
  const statement = checkQuery(query);
  let rows: Row[];
  try {
    rows = await readAsReader(store.db, statement, timeoutMs);
  } catch (err) {
    if (hasCode(err, 'READER_ROLE')) throw new CliError(`sql cannot read safely: ${err.message}`);
    throw explainSqlError(err, statement, timeoutMs) ?? err;
  }
  if (rows.length > 0 && Array.isArray(rows[0])) {
    throw new CliError('sql runs one statement at a time: run them one by one', EXIT.usage);
  }
  return rows;
}

const PROJECTION_TABLES = /\b(workers|scaling_decisions|anomalies|health_summaries)\b/i;

async function runSql(store: EventStore, query: string, o: SqlOptions, io: CliIo): Promise<void> {
  const rows = await runReadOnly(store, query, o.timeoutMs);
  onBrokenPipe(io);
  const columns = rows.length > 0 ? Object.keys(rows[0]) : [];
  if (o.format === 'json') writeJsonValue(io, rows);
  else if (o.format === 'csv') {
    if (columns.length) io.stdout.write(toCsv(columns, rows));
  } else {
    if (columns.length) io.stdout.write(psqlTable(columns, rows));
    io.stdout.write(`${rowCount(rows.length)}\n`);
  }
  if (PROJECTION_TABLES.test(query)) {
    const behind = await projectionLag(store, ALL_PROJECTIONS);
    if (behind > 0) {
      io.stderr.write(
        `note: the projection tables are ${behind} event(s) behind the events table (the controller is not ` +
          'running?); gpu-scaler status brings them up to date\n',
      );
    }
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

export function registerSql(program: Command, io: CliIo): void {
  defineSqlCommand(program, io);
}

/** Adds `sql` to a program; tests pass deps to run it on their own store. */
export function defineSqlCommand(program: Command, io: CliIo, deps: SqlDeps = {}): Command {
  const open = deps.withStore ?? withStore;
  return program
    .command('sql')
    .summary('run a read-only SQL query against the store')
    .description(
      'Run one read-only SQL statement against the store (server or embedded) and print the rows. ' +
        'Give it as an argument, or on stdin (no argument, or -).\n\n' +
        `Tables: ${QUERYABLE_TABLES.join(', ')}.\n\n` +
        `What keeps it read-only: one query (${QUERY_KEYWORDS.map((k) => k.toUpperCase()).join(', ')}; SET, RESET, ` +
        'COPY, DO, writes and DDL are refused, and so are functions that change settings or the role, run SQL ' +
        'from text, touch large objects, locks, other sessions or server files), in a read-only transaction ' +
        `that is rolled back, as the role ${READER_ROLE} (SELECT on the tables above and nothing else).\n` +
        `On a server, READ_DATABASE_URL naming a login in ${READER_ROLE} is the safe setup: the server then ` +
        'enforces it whatever the query. Without it, sql connects with DATABASE_URL and switches to the role ' +
        '(SET ROLE), which the connecting user could undo; the checks above are what stop that. sql refuses to ' +
        'run when it cannot take the role or the role can do more than read.\n' +
        'Embedded (PGlite): one process and your own file; no server programs or server files exist there. ' +
        'The read-only transaction, the rollback and the checks above are the guarantee.',
    )
    .argument('[query]', 'the SQL statement; - or none: read it from stdin')
    .addOption(new Option('--json', 'print a JSON array of row objects').conflicts('csv'))
    .option('--csv', 'print CSV with a header line')
    .option(
      '--timeout <duration>',
      'cancel the query after this long: 90s, 2m (0s: never; a server only, PGlite cannot interrupt a query)',
      DEFAULT_TIMEOUT,
    )
    .addHelpText(
      'after',
      helpExamples(
        [
          [
            'the last five decisions',
            'gpu-scaler sql "select cycle, decided_at, total, desired, decision, capped_by from scaling_decisions order by cycle desc limit 5"',
          ],
          ['anomalies as CSV', 'gpu-scaler sql --csv "select * from anomalies" > anomalies.csv'],
          [
            'the query on stdin, rows as JSON',
            'echo "select status, count(*) from workers group by 1" | gpu-scaler sql --json',
          ],
          ["the tables' columns", `gpu-scaler sql "${COLUMNS_QUERY}"`],
        ],
        'Values: timestamps print as ISO (UTC), jsonb as compact JSON, null as an empty cell.\n' +
          'Exit status: 0 ok (also for 0 rows), 1 the query failed, 2 bad usage or a write refused.',
      ),
    )
    .action(async (queryArg: string | undefined, raw: { json?: boolean; csv?: boolean; timeout: string }) => {
      const timeoutMs = parseDuration(raw.timeout, '--timeout');
      let query = queryArg;
      if (query === undefined || query === '-') {
        if (query === undefined && io.stdin.isTTY) {
          throw new CliError(
            'give a query: gpu-scaler sql "select count(*) from events", or pipe one in: echo "select 1" | gpu-scaler sql',
            EXIT.usage,
          );
        }
        query = await readAll(io.stdin);
      }
      const statement = checkQuery(query);
      const o: SqlOptions = { format: raw.json ? 'json' : raw.csv ? 'csv' : 'table', timeoutMs };
      // A reader login reads without migrating (it may not); otherwise DATABASE_URL as every command.
      const readUrl = io.env.READ_DATABASE_URL?.trim();
      await open(
        io,
        (store) => runSql(store, statement, o, io),
        readUrl ? { databaseUrl: readUrl, migrate: false } : {},
      );
    });
}
