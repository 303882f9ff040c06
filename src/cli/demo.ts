import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { appRegistry } from '../../events/index';
import { FakeClock } from '../clock';
import { runOperatorTimeline, type ScenarioResult } from '../demo/timeline';
import { explain } from '../explain/explain';
import { controlLog } from '../logging/control-log';
import { createLogging } from '../logging/index';
import { HttpEndpoint, HttpEndpointError } from '../observe/http';
import { type StartFact, startFigures, startFiguresText } from '../reactor/parking';
import { eventsOfCycle, taskTotalBefore } from '../store/event-queries';
import type { EventStore } from '../store/event-store';
import { openStore } from '../store/index';
import { CliError, type CliIo, EXIT } from './context';
import { runExplain } from './explain';

const DEMO_QUERIES: { title: string; sql: string }[] = [
  {
    title: 'Every decision that changed the fleet, with its math',
    sql: `select cycle, decided_at, total, current_total, requested, desired, capped_by, decision, delta
  from scaling_decisions where decision <> 'MAINTAIN' order by cycle`,
  },
  {
    title: 'Anomalies, newest first',
    sql: 'select detected_at, kind, message from anomalies order by detected_at desc',
  },
  {
    title: 'Worker lifetimes (GPU-seconds) and why they ended',
    sql: `select worker_id, status, termination_reason,
       extract(epoch from coalesce(terminated_at, now()) - spawned_at)::int as seconds
  from workers order by requested_at limit 10`,
  },
  {
    title: 'Health summaries',
    sql: 'select cycle, recorded_at, db_logging_healthy, last_total, last_worker_count, anomalies_since_last from health_summaries order by cycle',
  },
];

const RULE = '─'.repeat(78);

/** The demo's day: today if 18:45 UTC has passed, else yesterday, so its record (to 18:41) is in the past. */
function demoDay(now: Date): string {
  const d = new Date(now);
  if (d.getUTCHours() * 60 + d.getUTCMinutes() < 18 * 60 + 45) d.setUTCDate(d.getUTCDate() - 1);
  return d.toISOString().slice(0, 10);
}

export interface DemoOptions {
  dataDir?: string;
  /** Print the service's full log (every cycle's lines) along the story. */
  log?: boolean;
  /** The story only (the default since --log exists; kept so old scripts still run). */
  quiet?: boolean;
  now?: Date;
  /** Keep the dashboard up after the tour, until Ctrl-C (or until `stop` aborts, in tests). */
  serve?: boolean;
  port?: string;
  host?: string;
  stop?: AbortSignal;
  /** Told the dashboard's URL once it listens (tests). */
  onServing?: (url: string) => void;
}

export async function runDemo(io: CliIo, o: DemoOptions): Promise<number> {
  const out = io.stdout;
  const dataDir = o.dataDir ? path.resolve(o.dataDir) : null;
  const target = dataDir ? `pglite://${dataDir}` : 'memory://';
  const logDir = dataDir ? path.dirname(dataDir) : fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-demo-'));
  const day = demoDay(o.now ?? new Date());
  const clock = new FakeClock(`${day}T18:00:00.000Z`);
  out.write(
    `${RULE}\ngpu-scaler demo: the operators' four scenarios and parked pods on ${dataDir ? `an embedded store in ${dataDir}` : 'a throwaway in-memory store'},\nwith a simulated clock (30 s cycles run in milliseconds) and simulated GPU pods.\n${RULE}\n`,
  );
  const store = await openStore({ target, registry: appRegistry, listen: false });
  let results: ScenarioResult[];
  try {
    results = await runOperatorTimeline({
      store,
      clock,
      onScenario: (s) =>
        out.write(`\n${RULE}\nScenario ${s.index}: ${s.title}\n  ${s.question}\n  Set-up: ${s.description}\n${RULE}\n`),
      onScenarioEnd: async (r) => {
        for (const line of await scenarioStory(store, r)) out.write(`${line}\n`);
      },
      makeLogging: async (s) => {
        const logging = await createLogging(
          {
            format: 'pretty',
            stdout: o.log ? out : devNull(),
            stderr: o.log ? io.stderr : devNull(),
            logFile: path.join(logDir, 'orchestrator.log'),
            dbErrorsFile: path.join(logDir, 'db_logging_errors.log'),
            now: () => clock.now(),
            flushMs: 60_000,
            sourceId: 'demo',
          },
          s.db,
        );
        return { log: controlLog(logging), dbLogging: () => logging.dbStats(), close: () => logging.close() };
      },
    });

    const spurious = results.find((r) => r.index === 3) as ScenarioResult;
    out.write(`\n${RULE}\nWhy did it scale up at ${spurious.keyTime.slice(11, 19)} UTC? Asking the record:\n`);
    out.write(`$ gpu-scaler explain --at ${spurious.keyTime} --utc\n${RULE}\n`);
    await runExplain(store, io, { at: spurious.keyTime, window: '2m', utc: true });

    out.write(`\n${RULE}\nQueries to copy (gpu-scaler sql "<query>", or psql against a server):\n${RULE}\n`);
    for (const q of DEMO_QUERIES) out.write(`\n-- ${q.title}\n${q.sql};\n`);
    out.write(`\n${RULE}\n`);
    for (const r of results)
      out.write(
        `Scenario ${r.index} (${r.title}): cycles #${r.firstCycle}-#${r.lastCycle}, see cycle #${r.keyCycle} at ${r.keyTime}\n`,
      );
    if (dataDir) {
      out.write(`Logs: ${path.join(logDir, 'orchestrator.log')}, ${path.join(logDir, 'db_logging_errors.log')}\n`);
      out.write(
        `\nThe store is kept. Explore it with the other commands:\n  DATABASE_URL=pglite://${dataDir} gpu-scaler explain --at ${spurious.keyTime}\n  DATABASE_URL=pglite://${dataDir} gpu-scaler status\n  DATABASE_URL=pglite://${dataDir} gpu-scaler sql "select * from anomalies"\n`,
      );
    } else {
      out.write(
        `\nThe store ${o.serve ? 'is in memory: it goes when the dashboard stops' : 'was in memory and is gone'}. Keep it with: gpu-scaler demo --data-dir ./demo-db\n`,
      );
    }
    if (o.serve) await serveDashboard(io, store, clock, o);
  } finally {
    await store.close();
    if (!dataDir) fs.rmSync(logDir, { recursive: true, force: true });
  }
  return EXIT.ok;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * What a scenario did, read from the record (the projections and explain), so it is true by
 * construction: its decisions (runs of equal ones folded into one line), anomalies, workers, health
 * checks, and explain's conclusion for its key cycle.
 */
export async function scenarioStory(store: EventStore, r: ScenarioResult): Promise<string[]> {
  const range = [r.firstCycle, r.lastCycle];
  const decisions = await store.db.query<{
    cycle: number;
    total: number;
    current_total: number;
    desired_before_caps: number;
    desired: number;
    decision: string;
    delta: number;
    capped_by: string | null;
  }>(
    `select cycle, total, current_total, desired_before_caps, desired, decision, delta, capped_by
       from scaling_decisions where cycle between $1 and $2 order by cycle`,
    range,
  );
  const lines = ['What happened:'];
  const say = (d: (typeof decisions)[number]) =>
    `${plural(d.total, 'task')}, ${plural(d.current_total, 'worker')}: ${d.decision}` +
    `${d.decision === 'MAINTAIN' ? '' : ` by ${d.delta}`}` +
    `${d.capped_by ? ` (wanted ${d.desired_before_caps}, capped to ${d.desired} by ${d.capped_by})` : ''}`;
  for (let i = 0; i < decisions.length; ) {
    let j = i;
    while (j + 1 < decisions.length && say(decisions[j + 1]) === say(decisions[i])) j++;
    const cycles = i === j ? `#${decisions[i].cycle}` : `#${decisions[i].cycle}-#${decisions[j].cycle}`;
    lines.push(`  cycle ${cycles}: ${say(decisions[i])}`);
    i = j + 1;
  }
  const [w] = await store.db.query<{ requested: number; active: number; failed: number }>(
    `select count(*)::int as requested, count(active_at)::int as active,
            count(*) filter (where status = 'failed')::int as failed
       from workers where cycle between $1 and $2`,
    range,
  );
  lines.push(`  workers: ${w.requested} requested, ${w.active} became active${w.failed ? `, ${w.failed} failed` : ''}`);
  const anomalies = await store.db.query<{ cycle: number; kind: string }>(
    'select cycle, kind from anomalies where cycle between $1 and $2 order by cycle, kind',
    range,
  );
  lines.push(`  anomalies: ${anomalies.length ? anomalies.map((a) => `${a.kind} (#${a.cycle})`).join(', ') : 'none'}`);
  const health = await store.db.query<{ cycle: number; ok: boolean }>(
    'select cycle, db_logging_healthy as ok from health_summaries where cycle between $1 and $2 order by cycle',
    range,
  );
  // parked pods (docs/parked-pods.md): parks, starts from parked, and how soon each kind of start was up
  const starts = await store.db.query<{ type: StartFact['type'] | 'WorkerParked'; worker: string; at: string }>(
    `select event_type as type, data->>'workerId' as worker, data->>'at' as at from events
      where event_type in ('WorkerParked', 'WorkerUnparked', 'WorkerUnparkRefused', 'WorkerSpawnRequested', 'WorkerActivated')
        and coalesce((metadata->>'cycle')::int, (data->>'cycle')::int) between $1 and $2
      order by global_position`,
    range,
  );
  const parks = starts.filter((x) => x.type === 'WorkerParked').length;
  const facts = starts.flatMap((x) =>
    x.type === 'WorkerParked' ? [] : [{ type: x.type, workerId: x.worker, at: x.at }],
  );
  if (parks > 0 || facts.some((x) => x.type === 'WorkerUnparked' || x.type === 'WorkerUnparkRefused')) {
    lines.push(`  parked: ${plural(parks, 'pod')}; ${startFiguresText(startFigures(facts))}`);
  }
  if (health.length) {
    lines.push(
      `  health checks: ${health.map((h) => `#${h.cycle} database logging ${h.ok ? 'healthy' : 'FAILING'}`).join(', ')}`,
    );
  }
  const found = await eventsOfCycle(store, r.keyCycle, 120_000);
  if (found.events) {
    const conclusion = explain(found.events, {
      focusCycle: r.keyCycle,
      focusAt: null,
      previousTotal: await taskTotalBefore(store, r.keyCycle),
    }).conclusion;
    lines.push(`gpu-scaler explain --cycle ${r.keyCycle}:`, `  ${conclusion}`);
  }
  return lines;
}

/** Serves the dashboard over the demo's store until Ctrl-C (SIGINT, SIGTERM) or `o.stop`. */
async function serveDashboard(io: CliIo, store: EventStore, clock: FakeClock, o: DemoOptions): Promise<void> {
  const port = Number(o.port ?? '9464');
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(
      `--port "${o.port}" is not a port: use a whole number from 0 to 65535 (0: any free port)`,
      EXIT.usage,
    );
  const endpoint = new HttpEndpoint({
    store,
    host: o.host ?? '127.0.0.1',
    port,
    now: () => clock.now(),
    refreshSec: 5,
    providerName: 'simulated',
  });
  let address: AddressInfo;
  try {
    address = await endpoint.start();
  } catch (err) {
    if (err instanceof HttpEndpointError)
      throw new CliError(`the dashboard cannot start: ${err.message.replace('HTTP_PORT', '--port')}`, EXIT.usage);
    throw err;
  }
  const url = `http://${address.address}:${address.port}/`;
  io.stdout.write(
    `\n${RULE}\nThe dashboard of this run: ${url}  (metrics: ${url}metrics). Ctrl-C stops it.\n${RULE}\n`,
  );
  o.onServing?.(url);
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (o.stop?.aborted) done();
    o.stop?.addEventListener('abort', done, { once: true });
  });
  await endpoint.stop();
}

function devNull(): NodeJS.WritableStream {
  const { Writable } = require('node:stream') as typeof import('node:stream');
  return new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });
}

/** Test seams: the clock that picks the demo's day. */
export interface DemoDeps {
  now?: () => Date;
}

export function registerDemo(program: Command, io: CliIo): void {
  defineDemoCommand(program, io);
}

/** Adds `demo` to a program; tests pass deps to fix its day. */
export function defineDemoCommand(program: Command, io: CliIo, deps: DemoDeps = {}): Command {
  return program
    .command('demo')
    .description(
      "a newcomer's tour in under a minute: the operators' four scenarios and parked pods (question, what happened, explain), then SQL",
    )
    .option('--data-dir <dir>', 'keep the store in this directory (an embedded PGlite) to explore it afterwards')
    .option('--log', "also print the service's full log (every cycle's lines), as `gpu-scaler start` does")
    .option('--quiet', 'the story only, without the log (the default; kept for old scripts)')
    .option('--serve', 'then keep the dashboard of the run up (http://127.0.0.1:9464/) until Ctrl-C')
    .option('--port <n>', 'the dashboard port with --serve (0: any free port)', '9464')
    .option('--host <address>', 'the address the dashboard listens on with --serve', '127.0.0.1')
    .action(async (o: DemoOptions) => {
      process.exitCode = await runDemo(io, { ...o, now: deps.now?.() });
    });
}
