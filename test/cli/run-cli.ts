/**
 * Helpers for the CLI tests: run the real entry point (main) against an embedded store directory,
 * or run the query commands on a store the test holds open (the server variant, and --follow, where
 * the test appends while the command runs).
 *
 * The operators' timeline store is recorded once and copied per test file (test/helpers/timeline.ts).
 */
import { Readable } from 'node:stream';
import { Command } from 'commander';
import { appRegistry } from '../../events/index';
import { ALL_PROJECTIONS } from '../../projections/index';
import { type CliIo, EXIT, reportError, type withStore } from '../../src/cli/context';
import { defineEventsCommand, type EventsDeps } from '../../src/cli/events';
import { defineExplainCommand } from '../../src/cli/explain';
import { main } from '../../src/cli/main';
import { defineMigrateCommand } from '../../src/cli/migrate';
import { defineReplayCommand } from '../../src/cli/replay';
import { defineSqlCommand } from '../../src/cli/sql';
import { defineStatusCommand } from '../../src/cli/status';
import { ProjectionRunner } from '../../src/projections/runner';
import type { EventStore } from '../../src/store/event-store';
import { openStore } from '../../src/store/index';
import type { StoreTarget } from '../../src/store/open';
import { postgresBackend, TEST_DATABASE_URL, type TestBackend } from '../helpers/backends';
import { Capture } from '../helpers/harness';
import { type RecordedEvent, removeStoreDir, timelineEvents, timelineStoreDir } from '../helpers/timeline';

export { type RecordedEvent, removeStoreDir, timelineEvents, timelineStoreDir };

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface StartedRun {
  stdout: Capture;
  stderr: Capture;
  done: Promise<number>;
}

function makeIo(
  env: Record<string, string | undefined>,
  stdin?: string,
): { io: CliIo; stdout: Capture; stderr: Capture } {
  const stdout = new Capture();
  const stderr = new Capture();
  const input = Readable.from(stdin !== undefined ? [stdin] : []) as Readable & { isTTY?: boolean };
  // With no stdin given, behave like a terminal (nothing piped in).
  input.isTTY = stdin === undefined;
  return { io: { stdout, stderr, stdin: input, env, isTTY: false }, stdout, stderr };
}

/** The real entry point: main(['node', 'gpu-scaler', ...args], io). */
export async function runMain(args: string[], env: Record<string, string>, stdin?: string): Promise<CliRun> {
  const { io, stdout, stderr } = makeIo(env, stdin);
  const code = await main(['node', 'gpu-scaler', ...args], io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

export interface StoreRunOptions {
  stdin?: string;
  signal?: AbortSignal;
  pollMs?: number;
  onIdle?: EventsDeps['onIdle'];
}

/**
 * The store's commands (events, sql, status, explain, replay, migrate) on an open store, with the same program settings and error handling as
 * main() (src/cli/main.ts), whose store comes from DATABASE_URL instead.
 */
export function startOnStore(
  store: EventStore,
  target: StoreTarget,
  args: string[],
  opts: StoreRunOptions = {},
): StartedRun {
  const { io, stdout, stderr } = makeIo({}, opts.stdin);
  const inject = (async (_io, fn) => fn(store, target)) as typeof withStore;
  const program = new Command('gpu-scaler')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();
  defineEventsCommand(program, io, {
    withStore: inject,
    signal: opts.signal,
    pollMs: opts.pollMs,
    onIdle: opts.onIdle,
  });
  defineSqlCommand(program, io, { withStore: inject });
  defineStatusCommand(program, io, { withStore: inject });
  defineExplainCommand(program, io, { withStore: inject });
  defineReplayCommand(program, io, { withStore: inject });
  defineMigrateCommand(program, io, { withStore: inject });
  for (const c of program.commands) c.exitOverride().showHelpAfterError('(add --help for usage)');
  const done = program.parseAsync(['node', 'gpu-scaler', ...args]).then(
    () => EXIT.ok as number,
    (err: unknown) => reportError(io, err) as number,
  );
  return { stdout, stderr, done };
}

export async function runOnStore(
  store: EventStore,
  target: StoreTarget,
  args: string[],
  opts: StoreRunOptions = {},
): Promise<CliRun> {
  const run = startOnStore(store, target, args, opts);
  const code = await run.done;
  return { code, stdout: run.stdout.text, stderr: run.stderr.text };
}

/** Waits until `check` holds (polling); fails with `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits until catch-up readers (projections, --follow) can see `position`: on a shared server, a
 * transaction left open by someone else holds them back (the store's commit-order rule).
 */
export async function visibleToReaders(store: EventStore, position: number, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let max = 0;
    for await (const batch of store.readAll()) max = Math.max(max, ...batch.map((e) => e.globalPosition));
    if (max >= position) return;
    if (Date.now() > end) throw new Error(`position ${position} did not become visible to catch-up readers`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---------------------------------------------------------------------------------------------
// The timeline store

/** Positions printed at the start of each output line. */
export const positions = (stdout: string) =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(l.trim().split(/\s+/)[0]));

/**
 * For a test file that runs commands on the timeline store: copies it before the file's tests and
 * removes it after; `ready` gets the data directory and the recorded events.
 */
export function useTimelineStore(ready: (dir: string, recorded: RecordedEvent[]) => void): void {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await timelineStoreDir();
    ready(dir, await timelineEvents());
  }, 120_000);
  afterAll(() => {
    if (dir) removeStoreDir(dir);
  });
}

/** Appends the timeline's events, in their order, to an empty store; then brings its projections up to date. */
export async function copyTimelineInto(store: EventStore): Promise<void> {
  const events = await timelineEvents();
  for (let i = 0; i < events.length; ) {
    let j = i + 1;
    while (j < events.length && events[j].streamId === events[i].streamId) j++;
    await store.append(
      events[i].streamId,
      events.slice(i, j), // each has its type, data, event id and metadata
    );
    i = j;
  }
  await visibleToReaders(store, events[events.length - 1].globalPosition);
  await new ProjectionRunner(store, ALL_PROJECTIONS).catchUp();
}

// ---------------------------------------------------------------------------------------------
// Both backends

export interface StoreContext {
  kind: 'pglite' | 'postgres';
  store: EventStore;
  target: StoreTarget;
  /** Another store on the same data, to append from (the server: another pool, woken by NOTIFY). */
  writer: EventStore;
  run(args: string[], opts?: StoreRunOptions): Promise<CliRun>;
  start(args: string[], opts?: StoreRunOptions): StartedRun;
}

/**
 * Runs `suite` on the timeline store held open in the test: on PGlite (the file's copy, opened
 * from `dataDir()`), and on the server (a fresh schema with the timeline's events) when
 * TEST_DATABASE_URL is set.
 */
export function describeOnStores(name: string, dataDir: () => string, suite: (ctx: () => StoreContext) => void): void {
  describe(`${name} [pglite]`, () => {
    let ctx: StoreContext;
    beforeAll(async () => {
      const target: StoreTarget = { kind: 'pglite', dataDir: dataDir() };
      const store = await openStore({ target, registry: appRegistry });
      ctx = {
        kind: 'pglite',
        store,
        target,
        writer: store,
        run: (args, opts) => runOnStore(store, target, args, opts),
        start: (args, opts) => startOnStore(store, target, args, opts),
      };
    });
    afterAll(async () => {
      await ctx?.store.close();
    });
    suite(() => ctx);
  });

  (TEST_DATABASE_URL ? describe : describe.skip)(`${name} [postgres]`, () => {
    let ctx: StoreContext;
    let backend: TestBackend;
    beforeAll(async () => {
      backend = postgresBackend();
      const store = await backend.open(appRegistry);
      await copyTimelineInto(store);
      const writer = await backend.open(appRegistry, store.db.schema);
      const target: StoreTarget = { kind: 'postgres', url: 'postgres://test' };
      ctx = {
        kind: 'postgres',
        store,
        target,
        writer,
        run: (args, opts) => runOnStore(store, target, args, opts),
        start: (args, opts) => startOnStore(store, target, args, opts),
      };
    });
    afterAll(async () => {
      await backend?.teardown();
    });
    suite(() => ctx);
  });
}
