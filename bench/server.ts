import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../src/util/package-root';

export interface BenchServer {
  url: string;
  /** Where the URL came from, for the report. */
  origin: string;
  /** Stops a throwaway server (a no-op for BENCH_DATABASE_URL). Safe to call twice. */
  stop(): void;
}

const ciDir = () => path.join(packageRoot(), '.ci');

/** Parses the `export A='x' B='y'` line printed by .ci/pg-start.sh. */
export function parseExports(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of stdout.matchAll(/([A-Z_][A-Z0-9_]*)='([^']*)'/g)) out[m[1]] = m[2];
  return out;
}

/** BENCH_DATABASE_URL when set, otherwise a throwaway server started by .ci/pg-start.sh. */
export function benchServer(): BenchServer {
  const given = process.env.BENCH_DATABASE_URL?.trim();
  if (given) return { url: given, origin: 'BENCH_DATABASE_URL', stop: () => {} };

  process.stderr.write('bench: BENCH_DATABASE_URL is not set; starting a throwaway server with .ci/pg-start.sh\n');
  const stdout = execFileSync('bash', [path.join(ciDir(), 'pg-start.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const env = parseExports(stdout);
  if (!env.PG_TMP_URL || !env.PG_TMP_DIR || !env.PG_TMP_BINDIR) {
    throw new Error(`.ci/pg-start.sh printed no PG_TMP_URL/PG_TMP_DIR/PG_TMP_BINDIR: ${JSON.stringify(stdout)}`);
  }
  let stopped = false;
  return {
    url: env.PG_TMP_URL,
    origin: `throwaway server (.ci/pg-start.sh, ${env.PG_TMP_DIR})`,
    stop() {
      if (stopped) return;
      stopped = true;
      execFileSync('bash', [path.join(ciDir(), 'pg-stop.sh')], {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, PG_TMP_DIR: env.PG_TMP_DIR, PG_TMP_BINDIR: env.PG_TMP_BINDIR },
      });
    },
  };
}
