import { GpuScalerError } from '../errors';
import { type Db, pgErrorCode, type Row, type Sql } from './db';

/**
 * The group roles of the least-privilege layout (migrations/0008_roles.sql): the service runs as
 * a login in WRITER_ROLE, `gpu-scaler sql` reads as READER_ROLE.
 */
export const WRITER_ROLE = 'gpu_scaler_writer';
export const READER_ROLE = 'gpu_scaler_reader';

/** Predefined roles whose privileges turn a reader into more than a reader. */
const POWERFUL_ROLES = [
  'pg_read_server_files',
  'pg_write_server_files',
  'pg_execute_server_program',
  'pg_signal_backend',
  'pg_write_all_data',
  WRITER_ROLE,
];

export class ReaderRoleError extends GpuScalerError {
  constructor(message: string) {
    super('READER_ROLE', message);
    this.name = 'ReaderRoleError';
  }
}

/**
 * Switches the caller's transaction to READER_ROLE (`set local role`, undone at its end) and checks
 * that the role can only read: not a superuser, no CREATEROLE, no privileges of the owner of the
 * events table, of the writer role or of the predefined roles that read or write server files,
 * run server programs or signal other sessions. Throws ReaderRoleError saying what is wrong.
 */
async function assumeReaderRole(tx: Sql): Promise<void> {
  let session = '';
  try {
    const [who] = await tx.query<{ session: string }>('select session_user::text as session');
    session = who.session;
    await tx.exec(`set local role ${READER_ROLE}`);
  } catch (err) {
    const code = pgErrorCode(err);
    const why = (err as Error).message;
    if (code === '22023' || code === '42704') {
      throw new ReaderRoleError(`the role ${READER_ROLE} does not exist (${why}): run gpu-scaler migrate as the owner`);
    }
    throw new ReaderRoleError(
      `${session || 'the database user'} may not switch to the role ${READER_ROLE} (${why}): set READ_DATABASE_URL to ` +
        `a login that is a member of ${READER_ROLE}, or as an admin: GRANT ${READER_ROLE} TO ${session || '<user>'}`,
    );
  }
  const [r] = await tx.query<{ role: string; superuser: boolean; createrole: boolean; powers: string[] }>(
    `select current_user::text as role, r.rolsuper as superuser, r.rolcreaterole as createrole,
            array(select p.rolname::text from pg_roles p
                   where p.oid <> r.oid
                     and (p.rolname = any($1::text[])
                          or p.oid = (select c.relowner from pg_class c where c.oid = to_regclass('events')))
                     and pg_has_role(r.oid, p.oid, 'USAGE')
                   order by 1) as powers
       from pg_roles r where r.rolname = current_user`,
    [POWERFUL_ROLES],
  );
  const problems = [
    ...(r.superuser ? ['is a superuser'] : []),
    ...(r.createrole ? ['may create roles'] : []),
    ...(r.powers.length ? [`has the privileges of ${r.powers.join(', ')}`] : []),
  ];
  if (r.role !== READER_ROLE || problems.length > 0) {
    throw new ReaderRoleError(
      `the role ${READER_ROLE} can do more than read: it ${problems.join(', ')}; ` +
        `revoke that (e.g. REVOKE <role> FROM ${READER_ROLE}) before using gpu-scaler sql`,
    );
  }
}

/** Carries a query's rows out of its transaction, which is rolled back: a query has nothing to commit. */
class Discarded {
  constructor(readonly rows: Row[]) {}
}

/**
 * Runs one statement in a read-only transaction, under a statement timeout (ms, 0 = none), as
 * READER_ROLE (assumeReaderRole), and rolls the transaction back, so even what a read-only
 * transaction lets through (a large object some servers create there, say) is not kept. What
 * statements may come here is the caller's rule (src/cli/sql.ts checkQuery).
 */
export async function readAsReader(db: Db, statement: string, timeoutMs: number): Promise<Row[]> {
  try {
    await db.transaction(async (tx) => {
      // Must come first: Postgres (and PGlite) then refuse every write with SQLSTATE 25006.
      await tx.exec('set transaction read only');
      await tx.exec(`set local statement_timeout = ${Math.max(0, Math.round(timeoutMs))}`);
      await assumeReaderRole(tx);
      throw new Discarded([...(await tx.query(statement))]);
    });
  } catch (err) {
    if (err instanceof Discarded) return err.rows;
    throw err;
  }
  throw new Error('readAsReader: the transaction ended without its rows');
}

/**
 * Lets READER_ROLE read every table of a schema the caller just made (an as-of schema of
 * `gpu-scaler replay --until`), so the query replay prints runs through `gpu-scaler sql`. A store
 * without the role (a schema migrated before 0008) is left as it is.
 */
export async function grantReaderOnSchema(db: Db, schema: string): Promise<void> {
  const [role] = await db.query<{ n: number }>('select count(*)::int as n from pg_roles where rolname = $1', [
    READER_ROLE,
  ]);
  if (!role || role.n === 0) return;
  const q = `"${schema.replace(/"/g, '""')}"`;
  await db.transaction(async (tx) => {
    await tx.exec(`grant usage on schema ${q} to ${READER_ROLE}`);
    await tx.exec(`grant select on all tables in schema ${q} to ${READER_ROLE}`);
  });
}

/**
 * Whether the connected user can `gpu-scaler sql` by switching to READER_ROLE: null when it can (a
 * member, a superuser, or a store without the role), else what to do about it.
 */
export async function readerSwitchProblem(db: Db): Promise<string | null> {
  const [r] = await db.query<{ user: string; exists: boolean; may: boolean }>(
    `select current_user::text as user,
            exists (select 1 from pg_roles where rolname = $1) as exists,
            (select rolsuper from pg_roles where rolname = current_user)
              or (exists (select 1 from pg_roles where rolname = $1) and pg_has_role(current_user, $1, 'MEMBER')) as may`,
    [READER_ROLE],
  );
  if (!r?.exists || r.may) return null;
  return (
    `${r.user} is not a member of ${READER_ROLE}, so gpu-scaler sql over this login cannot switch to it: ` +
    `set READ_DATABASE_URL to a login in ${READER_ROLE}, or as a superuser: GRANT ${READER_ROLE} TO ${r.user}`
  );
}
