import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildDist } from './helpers/build-dist';
import { allPages, type Fence, parseMarkdown, readDoc, root } from './helpers/docs';

// Every shell block of README.md, CONTRIBUTING.md and docs/ marked ```sh runnable is run, as
// written, by bash (-e, -o pipefail): `gpu-scaler` and `npx gpu-scaler` are the CLI built from this
// checkout (one build), DATABASE_URL is one embedded PGlite store every block shares, and every
// block runs in one working directory, in the order of allPages() (README.md first), so a block may
// read what an earlier one made (docs/debugging.md reads the demo store of the README's tour,
// which costs seconds to make: it is made once). A block marked
// ```sh not-runnable: <reason> is not run; its reason is printed. Plain ```sh blocks are
// illustrations. Keep the runnable ones few and fast: this whole file should take well under a
// minute (CI must stay under 6).

const RUNNABLE = /^(sh|bash|shell)\s+runnable$/;
const NOT_RUNNABLE = /^(sh|bash|shell)\s+not-runnable:\s*(\S.*)$/;
/** Generous: a block takes seconds, but a loaded CI machine stretches them. */
const BLOCK_TIMEOUT_MS = 150_000;
/** A shell fence whose info says more than its language must say one of the two above. */
const MARKED = /^(sh|bash|shell)\s+\S/;

interface Block extends Fence {
  page: string;
}

const blocks: Block[] = allPages().flatMap((page) => parseMarkdown(readDoc(page)).fences.map((f) => ({ ...f, page })));
const runnable = blocks.filter((b) => RUNNABLE.test(b.info));
const skipped = blocks.filter((b) => NOT_RUNNABLE.test(b.info));

let tmp: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  buildDist();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gs-docs-'));
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  const cli = path.join(root, 'bin/gpu-scaler.js');
  fs.writeFileSync(
    path.join(bin, 'gpu-scaler'),
    `#!/bin/sh\nexec '${process.execPath}' --max-old-space-size=1024 '${cli}' "$@"\n`,
    { mode: 0o755 },
  );
  // npx would look for the package on the registry from a directory outside the repository
  fs.writeFileSync(
    path.join(bin, 'npx'),
    '#!/bin/sh\nif [ "$1" = gpu-scaler ]; then shift; exec gpu-scaler "$@"; fi\n' +
      'echo "npx $1: a runnable block may only run npx gpu-scaler" >&2; exit 127\n',
    { mode: 0o755 },
  );
  env = {
    PATH: `${bin}:${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
    HOME: tmp,
    LANG: 'C.UTF-8',
    DATABASE_URL: `pglite://${path.join(tmp, 'store')}`,
    // the service's endpoint on any free port: other tests may hold 9464
    HTTP_PORT: '0',
    // the initialised cluster of jest's global setup: a new store costs no initdb
    ...(process.env.GPU_SCALER_PGLITE_TEMPLATE
      ? { GPU_SCALER_PGLITE_TEMPLATE: process.env.GPU_SCALER_PGLITE_TEMPLATE }
      : {}),
  };
  for (const b of skipped)
    console.log(`not run: ${b.page}:${b.line}: ${NOT_RUNNABLE.exec(b.info)?.[2]}\n  ${b.body.split('\n')[0]} ...`);
}, 120_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('every marked shell block says runnable, or not-runnable with a reason', () => {
  const unclear = blocks
    .filter((b) => MARKED.test(b.info) && !RUNNABLE.test(b.info) && !NOT_RUNNABLE.test(b.info))
    .map((b) => `${b.page}:${b.line}: \`\`\`${b.info}`);
  expect(unclear).toEqual([]);
  expect(runnable.length).toBeGreaterThan(0);
  expect(runnable.filter((b) => b.page === 'README.md').length).toBeGreaterThan(0);
});

/** Runs a block with bash in the page's directory; resolves to its exit code and output. */
function run(block: Block): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cwd = path.join(tmp, 'work');
  fs.mkdirSync(cwd, { recursive: true });
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-e', '-o', 'pipefail', '-c', block.body],
      { cwd, env, timeout: BLOCK_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

describe.each([...new Set(runnable.map((b) => b.page))])('%s', (page) => {
  test.each(runnable.filter((b) => b.page === page).map((b) => [`line ${b.line}`, b] as const))(
    'the runnable block at %s runs',
    async (_where, block) => {
      const now = new Date();
      const minute = now.getUTCHours() * 60 + now.getUTCMinutes();
      if (/demo/.test(block.body) && /\b18:2\d/.test(block.body) && minute >= 18 * 60 + 25 && minute < 18 * 60 + 46) {
        // the demo writes the last day past 18:45 UTC; until then today's "18:25" is not in it
        console.log(
          `not run now: ${block.page}:${block.line} reads the demo's 18:25 by time of day (see docs/debugging.md)`,
        );
        return;
      }
      const r = await run(block);
      // on failure the block, its output and its exit code are in the message
      expect({ block: block.body, code: r.code, stderr: r.stderr.slice(-4000) }).toEqual({
        block: block.body,
        code: 0,
        stderr: expect.any(String),
      });
      expect(r.stdout.trim()).not.toBe('');
    },
    BLOCK_TIMEOUT_MS + 10_000,
  );
});
