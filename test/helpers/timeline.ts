import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type AppEvent, appRegistry } from '../../events/index';
import { FakeClock } from '../../src/clock';
import { runOperatorTimeline, type ScenarioResult } from '../../src/demo/timeline';
import { controlLog } from '../../src/logging/control-log';
import { createLogging } from '../../src/logging/index';
import type { EventMetadata, EventStore } from '../../src/store/event-store';
import { openStore } from '../../src/store/index';
import { Capture } from './harness';

export const TIMELINE_DAY = '2026-11-27';

/**
 * Fills a store with the operators' four scenarios (the same timeline `gpu-scaler demo` runs),
 * logging to captured streams. The spurious 0 -> 51 jump is at 18:25:42 UTC on TIMELINE_DAY.
 */
export async function fillWithTimeline(
  store: EventStore,
): Promise<{ results: ScenarioResult[]; stdout: Capture; stderr: Capture }> {
  const clock = new FakeClock(`${TIMELINE_DAY}T18:00:00.000Z`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-timeline-'));
  const stdout = new Capture();
  const stderr = new Capture();
  try {
    const results = await runOperatorTimeline({
      store,
      clock,
      makeLogging: async (s) => {
        const logging = await createLogging(
          {
            stdout,
            stderr,
            logFile: null,
            dbErrorsFile: path.join(dir, 'db_logging_errors.log'),
            now: () => clock.now(),
            flushMs: 60_000,
            sourceId: 'timeline',
          },
          s.db,
        );
        return { log: controlLog(logging), dbLogging: () => logging.dbStats(), close: () => logging.close() };
      },
    });
    return { results, stdout, stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The recorded timeline, shared by every test file that reads it
//
// The timeline takes ~20 s to record on PGlite, so it is recorded once into a template directory
// under the OS temp dir, keyed by a hash of the sources that shape it, and copied per test file.

const ROOT = path.resolve(__dirname, '../..');

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? filesUnder(path.join(dir, d.name)) : [path.join(dir, d.name)]))
    .filter((f) => /\.(ts|sql|json)$/.test(f));
}

/** A hash of everything that shapes the recorded timeline. */
function sourcesHash(): string {
  const h = crypto.createHash('sha256');
  const files = [
    ...['src', 'events', 'projections', 'migrations', 'test/helpers'].flatMap((d) => filesUnder(path.join(ROOT, d))),
    path.join(ROOT, 'package-lock.json'),
  ].sort();
  for (const f of files) {
    h.update(path.relative(ROOT, f));
    h.update(fs.existsSync(f) ? fs.readFileSync(f) : '');
  }
  return h.digest('hex').slice(0, 16);
}

/** An event of the recorded timeline, as JSON keeps it: typed by its `type`. */
export type RecordedEvent = {
  globalPosition: number;
  streamId: string;
  eventId: string;
  metadata: EventMetadata;
} & AppEvent;

const CACHE_PREFIX = 'gpu-scaler-cli-timeline-';

let template: Promise<string> | undefined;

/**
 * The template: <cache>/db (a PGlite data dir), <cache>/events.json and <cache>/results.json (what
 * the recording returned: each scenario's cycles). Recorded once per source hash.
 */
function timelineTemplate(): Promise<string> {
  // Once per test file: the sources may change while it runs (and each recording has its own worker ids).
  template ??= recordTemplate();
  return template;
}

/**
 * One recording at a time per source hash: with several jest workers, files that start together
 * would each record the same timeline (seconds of CPU each); the others wait for the first one's.
 * The lock is a directory holding the recorder's pid; one whose process is gone is taken over.
 */
async function recordTemplate(): Promise<string> {
  const cache = path.join(os.tmpdir(), `${CACHE_PREFIX}${sourcesHash()}`);
  const lock = `${cache}.lock`;
  for (;;) {
    if (fs.existsSync(path.join(cache, 'results.json'))) return cache;
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!lockHolderAlive(lock)) fs.rmSync(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await recordInto(cache);
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** False when the lock's process has gone (or it has been held for longer than a recording takes). */
function lockHolderAlive(lock: string): boolean {
  try {
    if (Date.now() - fs.statSync(lock).mtimeMs > 600_000) return false;
    const pid = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8'));
    if (!pid) return Date.now() - fs.statSync(lock).mtimeMs < 5_000; // being written
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' || (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

async function recordInto(cache: string): Promise<string> {
  if (fs.existsSync(path.join(cache, 'results.json'))) return cache;
  const work = `${cache}.tmp-${process.pid}-${Date.now()}`;
  fs.rmSync(work, { recursive: true, force: true });
  const store = await openStore({ target: `pglite://${path.join(work, 'db')}`, registry: appRegistry, listen: false });
  const events: RecordedEvent[] = [];
  let results: ScenarioResult[];
  try {
    ({ results } = await fillWithTimeline(store));
    for await (const batch of store.readAll()) {
      for (const e of batch) {
        const { streamVersion: _v, schemaVersion: _s, txId: _t, recordedAt: _r, ...recorded } = e;
        events.push(recorded);
      }
    }
    // readAll goes in commit order; a copy in position order gets the same positions in a fresh store
    events.sort((a, b) => a.globalPosition - b.globalPosition);
  } finally {
    await store.close();
  }
  fs.writeFileSync(path.join(work, 'events.json'), JSON.stringify(events));
  // last: a template with results.json is complete (see the check above)
  fs.writeFileSync(path.join(work, 'results.json'), JSON.stringify(results));
  try {
    fs.renameSync(work, cache);
  } catch {
    fs.rmSync(work, { recursive: true, force: true }); // another worker got there first
  }
  // Old templates (other source hashes) are dead weight; leave recent ones to concurrent runs.
  for (const d of fs.readdirSync(os.tmpdir())) {
    const full = path.join(os.tmpdir(), d);
    if (!d.startsWith(CACHE_PREFIX) || full === cache) continue;
    try {
      if (Date.now() - fs.statSync(full).mtimeMs > 3_600_000) fs.rmSync(full, { recursive: true, force: true });
    } catch {
      /* gone already */
    }
  }
  return cache;
}

/** A private copy of the timeline store for one test file: its data directory (for pglite://dir). */
export async function timelineStoreDir(): Promise<string> {
  const tpl = await timelineTemplate();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-cli-test-'));
  fs.cpSync(path.join(tpl, 'db'), path.join(dir, 'db'), { recursive: true });
  return path.join(dir, 'db');
}

export function removeStoreDir(dataDir: string): void {
  fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
}

/** What the recording returned: each scenario's first, last and key cycle. */
export async function timelineResults(): Promise<ScenarioResult[]> {
  const tpl = await timelineTemplate();
  return JSON.parse(fs.readFileSync(path.join(tpl, 'results.json'), 'utf8')) as ScenarioResult[];
}

/** The timeline's events in position order (what every store in these tests holds). */
export async function timelineEvents(): Promise<RecordedEvent[]> {
  const tpl = await timelineTemplate();
  return JSON.parse(fs.readFileSync(path.join(tpl, 'events.json'), 'utf8')) as RecordedEvent[];
}
