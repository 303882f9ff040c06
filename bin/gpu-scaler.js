#!/usr/bin/env -S node --max-old-space-size=1024
// The flag: see src/util/node-flags.ts.

// `gpu-scaler … | head` closes the pipe early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
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
  );
