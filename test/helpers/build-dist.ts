import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/util/package-root';

/** What dist/ is compiled from (tsconfig.build.json's include, and the compiler settings). */
const INPUTS = ['src', 'events', 'projections', 'bench', 'test/fakes'];
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];

/** A hash of every input file's path and content: equal hashes, equal dist/. */
function inputsHash(root: string): string {
  const h = crypto.createHash('sha256');
  const walk = (rel: string) => {
    const abs = path.join(root, rel);
    if (!fs.existsSync(abs)) return;
    if (fs.statSync(abs).isDirectory()) {
      for (const name of fs.readdirSync(abs).sort()) walk(path.join(rel, name));
    } else {
      h.update(`${rel}\0`).update(fs.readFileSync(abs)).update('\0');
    }
  };
  for (const rel of [...CONFIGS, ...INPUTS]) walk(rel);
  return h.digest('hex');
}

/**
 * Brings dist/ up to date, as `npm start` runs it (tsc -p tsconfig.build.json, incremental), for
 * the tests that start the service in a process of its own. One build at a time: with several
 * jest workers, two of these files may start together, and two compilers writing the same files
 * could leave a half-written dist/ to the other's child process. A build records the hash of its
 * inputs; when they have not changed since, there is nothing to compile and tsc is not started
 * (seconds of CPU for each file that calls this).
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
    const stamp = path.join(dist, '.build-inputs');
    const hash = inputsHash(root);
    const built =
      fs.existsSync(path.join(dist, '.tsbuildinfo')) && fs.existsSync(stamp) ? fs.readFileSync(stamp, 'utf8') : '';
    if (built === hash) return;
    fs.rmSync(stamp, { force: true });
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
      cwd: root,
      stdio: 'inherit',
    });
    fs.writeFileSync(stamp, hash);
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}
