// Jest globalSetup: makes (once per PGlite version, cached in the OS temp directory) a tarball of a
// freshly initialised, empty PGlite cluster, and points GPU_SCALER_PGLITE_TEMPLATE at it, so every
// new PGlite a test opens (in memory or in a new directory, in this process, its jest workers and
// the child processes they start) is loaded from it instead of running initdb: seconds of CPU each.
// See createPglite in src/store/db-pglite.ts. The template holds no migration: a test's store
// migrates itself exactly as before.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ENV = 'GPU_SCALER_PGLITE_TEMPLATE';

module.exports = async function pgliteTemplate() {
  if (process.env[ENV] && fs.existsSync(process.env[ENV])) return;
  const pkg = path.resolve(path.dirname(require.resolve('@electric-sql/pglite')), '..', 'package.json');
  const { version } = JSON.parse(fs.readFileSync(pkg, 'utf8'));
  const file = path.join(os.tmpdir(), `gpu-scaler-pglite-template-${version}.tar`);
  if (!fs.existsSync(file)) {
    const { PGlite } = require('@electric-sql/pglite');
    const pg = new PGlite();
    await pg.waitReady;
    const dump = await pg.dumpDataDir('none');
    await pg.close();
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
    fs.renameSync(tmp, file); // atomic: a concurrent run reads a whole file or makes its own
  }
  process.env[ENV] = file;
};
