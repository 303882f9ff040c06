import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/util/package-root';

/**
 * Brings dist/ up to date, as `npm start` runs it (tsc -p tsconfig.build.json, incremental), for
 * the tests that start the service in a process of its own. One build at a time: with several
 * jest workers, two of these files may start together, and two compilers writing the same files
 * could leave a half-written dist/ to the other's child process.
 */
export function buildDist(): void {
  const root = packageRoot();
  const dist = path.join(root, 'dist');
  fs.mkdirSync(dist, { recursive: true });
  const lock = path.join(dist, '.build-lock');
  const deadline = Date.now() + 110_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        // a build left behind by a killed run
        if (Date.now() - fs.statSync(lock).mtimeMs > 300_000) fs.rmSync(lock, { recursive: true, force: true });
      } catch {
        /* released meanwhile */
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for another build of dist/ (${lock})`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
      cwd: root,
      stdio: 'inherit',
    });
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}
