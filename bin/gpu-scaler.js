#!/usr/bin/env node

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
