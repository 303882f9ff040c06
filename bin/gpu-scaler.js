#!/usr/bin/env -S node --max-old-space-size=1024
// The flag: see src/util/node-flags.ts.

// The service (`start`) keeps running whatever happens to its stdout and stderr: a failed write (a
// full disk, a reader gone) is counted and reported by its health check (HealthChecked DEGRADED),
// never fatal. A one-shot command whose output was lost exits 1, except when the reader closed the
// pipe early (`gpu-scaler … | head`): that is not an error.
const isService = process.argv.slice(2).find((a) => !a.startsWith('-')) === 'start';
let outputLost = false;
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (isService) return;
    if (err && err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    outputLost = true;
  });
}
require('../dist/src/cli/main.js')
  .main(process.argv)
  .then(
    (code) => {
      process.exitCode = code ?? 0;
    },
    (err) => {
      process.stderr.write(`gpu-scaler: ${err?.message ? err.message : err}\n`);
      process.exitCode = 1;
    },
  )
  .finally(() => {
    if (outputLost && !process.exitCode) process.exitCode = 1;
  });
