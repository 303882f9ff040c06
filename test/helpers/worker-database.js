// A PostgreSQL database per jest worker, so that test files running at the same time on the server
// (TEST_DATABASE_URL) never share one: a catch-up reader rightly waits for any open transaction
// that may write events in its database (src/store/read-horizon.ts), so one file's open
// transactions would hold back another file's readers. Sessions of other databases do not count.
//
// globalSetup (test/helpers/global-setup.js) creates `<database>_w1` ... `<database>_w<maxWorkers>`
// on the server TEST_DATABASE_URL names (once; they are kept, as the database itself is), and keeps
// the URL given in GPU_SCALER_TEST_DATABASE_BASE. Each test file then starts (setupFiles, below)
// with TEST_DATABASE_URL naming its worker's database (JEST_WORKER_ID, 1 when run in band), before
// any of its modules reads it (test/helpers/setup-worker-database.js): a test file does nothing special. Roles are cluster-wide: a test
// that creates a login gives it a name unique to its process (the pid), as the existing ones do.
const BASE = 'GPU_SCALER_TEST_DATABASE_BASE';

/** The database a URL names (libpq's default: the user's name). */
function databaseOf(url) {
  const u = new URL(url);
  return decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres';
}

/** The URL of worker `id`'s database on the server `base` names. */
function workerUrl(base, id) {
  const u = new URL(base);
  u.pathname = `/${encodeURIComponent(`${databaseOf(base)}_w${id}`)}`;
  return u.toString();
}

/** globalSetup: creates the workers' databases (those missing) and remembers the base URL. */
async function createWorkerDatabases(maxWorkers) {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) return;
  const postgres = require('postgres');
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  try {
    for (let id = 1; id <= Math.max(1, maxWorkers); id += 1) {
      const name = databaseOf(workerUrl(base, id));
      const [{ n }] = await admin`select count(*)::int as n from pg_database where datname = ${name}`;
      if (n > 0) continue;
      try {
        await admin.unsafe(`create database "${name.replace(/"/g, '""')}"`);
      } catch (err) {
        // another jest run on the same server created it at the same moment
        if (err.code === '42P04' || err.code === '23505') continue;
        throw new Error(
          `could not create the database ${name} for jest worker ${id} on the server TEST_DATABASE_URL names ` +
            `(${err.message}): each worker runs in a database of its own (<database>_w1 .. _w<maxWorkers>); ` +
            'create them, or give that user CREATEDB',
        );
      }
    }
  } finally {
    await admin.end();
  }
  process.env[BASE] = base;
}

/** setupFiles: points TEST_DATABASE_URL at this worker's database. */
function useWorkerDatabase() {
  const base = process.env[BASE];
  if (!base || !process.env.TEST_DATABASE_URL) return;
  process.env.TEST_DATABASE_URL = workerUrl(base, process.env.JEST_WORKER_ID || '1');
}

module.exports = { createWorkerDatabases, useWorkerDatabase, workerUrl, databaseOf };
