import type { Command } from 'commander';
import { type DataOf, DEFAULT_POOL, isEvent, Streams } from '../../events/index';
import { type ShadowReport, shadowReport } from '../shadow/report';
import { findEvents } from '../store/event-queries';
import type { EventStore } from '../store/event-store';
import { CliError, type CliIo, EXIT, withStore, writeJson } from './context';
import {
  AGO_FORMS,
  jsonOption,
  nowOption,
  parseSince,
  parseUntil,
  readClock,
  TIME_FORMS,
  untilOption,
  utcOption,
  wholeNumber,
} from './flags';
import { formatTimestamp } from './output';

export interface ShadowReportOptions {
  since: string;
  until?: string;
  top: number;
  utc?: boolean;
  json?: boolean;
  now?: string;
}

/** Rows of one type in a time window, at most this many (a week at a 30 s cycle is 20,160). */
const MAX_ROWS = 1_000_000;

/** Reads the shadow run's events and compares what it would have done with what the fleet did. */
export async function runShadowReport(store: EventStore, io: CliIo, o: ShadowReportOptions): Promise<number> {
  const { utc, now } = readClock(o);
  const from = parseSince(o.since, { utc, now, flag: '--since' });
  const until = o.until ? parseUntil(o.until, { utc, now, allowAgo: true }) : null;
  if (until?.kind === 'position')
    throw new CliError(
      `--until ${o.until}: shadow-report compares a span of time: give a time (${TIME_FORMS}) or a duration ago (${AGO_FORMS}), not a position`,
      EXIT.usage,
    );
  const to = until ? until.time : now;
  if (to.getTime() <= from.getTime()) {
    throw new CliError(
      `--until ${to.toISOString()} is not after --since ${from.toISOString()}: give a window forward in time`,
      EXIT.usage,
    );
  }
  const rows = async (type: string) =>
    store.decodeRows(
      await findEvents(store, { types: [type], since: from, until: to }, { mode: 'head', limit: MAX_ROWS }),
    );
  const listed = (await rows('FleetObserved')).filter(isEvent('FleetObserved')).map((e) => e.data);
  if (listed.length === 0) {
    throw new CliError(
      `no cycle ran in shadow between ${from.toISOString()} and ${to.toISOString()}: start the service with MODE=shadow (docs/shadow-mode.md), or try an earlier --since`,
      EXIT.empty,
    );
  }
  const observed = (await rows('TaskCountObserved')).filter(isEvent('TaskCountObserved')).map((e) => e.data);
  // every intended action up to the window's end: those before it make the would-be fleet it starts with
  const intended: DataOf<'ActionIntended'>[] = (await store.readStream(Streams.shadow(DEFAULT_POOL)))
    .filter(isEvent('ActionIntended'))
    .map((e) => e.data)
    .filter((a) => Date.parse(a.at) <= to.getTime());
  const report = shadowReport({ from, to, intended, listed, observed, top: o.top });
  if (o.json) writeJson(io, report);
  else io.stdout.write(reportText(report, utc));
  return EXIT.ok;
}

const hours = (x: number) => `${x.toFixed(2)} GPU-h`;
const signed = (x: number) => (x > 0 ? `+${x}` : String(x));
const pct = (part: number, whole: number) => (whole ? `${Math.round((part / whole) * 100)}%` : '-');
const duration = (sec: number) =>
  sec >= 3600 ? `${(sec / 3600).toFixed(1)} h` : sec >= 60 ? `${Math.round(sec / 60)} min` : `${sec} s`;

/** The report in words: one fact a line, the would-be fleet first, then the actual one. */
export function reportText(r: ShadowReport, utc: boolean): string {
  const t = (iso: string) => formatTimestamp(new Date(iso), utc);
  const saved = r.gpuHours.actual - r.gpuHours.wouldBe;
  const lines = [
    `Shadow report ${t(r.from)} - ${t(r.to)}: ${r.cycles} cycle(s) compared over ${duration(r.coveredSec)}${
      r.gaps ? ` (${r.gaps} gap(s) while the service was not running, each counted as 5 cycles)` : ''
    }`,
    '',
    '                 would have (gpu-scaler)   actually (the fleet as listed)',
    `  GPU-hours      ${hours(r.gpuHours.wouldBe).padEnd(26)}${hours(r.gpuHours.actual)}`,
    `  spawns         ${String(r.spawns.wouldBe).padEnd(26)}${r.spawns.actual}`,
    `  terminations   ${String(r.terminations.wouldBe).padEnd(26)}${r.terminations.actual}`,
    `  peak GPUs      ${String(r.peakGpus.wouldBe).padEnd(26)}${r.peakGpus.actual}`,
    '',
    `gpu-scaler would have run ${saved >= 0 ? `${saved.toFixed(2)} GPU-hours fewer` : `${(-saved).toFixed(2)} GPU-hours more`} (${pct(
      Math.abs(saved),
      r.gpuHours.actual,
    )} of the actual); more GPUs in ${r.cyclesWouldBe.more} cycle(s), fewer in ${r.cyclesWouldBe.fewer}, the same in ${r.cyclesWouldBe.same}.`,
  ];
  if (r.disagreements.length) {
    lines.push('', 'Where they disagreed most (would-be - actual GPUs, at the start of the cycle):');
    for (const m of r.disagreements) {
      const tasks = m.queued === null ? '' : `; tasks ${m.queued} queued + ${m.active} active`;
      lines.push(
        `  ${t(m.at)}  cycle #${m.cycle}: ${signed(m.difference)} (would be ${m.wouldBeGpus}, was ${m.actualGpus})${tasks}  (gpu-scaler explain --cycle ${m.cycle})`,
      );
    }
  }
  const w = r.waits;
  lines.push(
    '',
    `Waits the tasks saw (under the actual fleet; from ${w.observations} task count(s), which carry no per-task times):`,
    `  queued task-hours ${w.queuedTaskHours.toFixed(2)}; peak ${w.peakQueued} queued${w.peakQueuedAt ? ` at ${t(w.peakQueuedAt)}` : ''}`,
    `  tasks waited in ${w.cyclesWithQueued} of ${w.observations} cycle(s) (${pct(w.cyclesWithQueued, w.observations)}); the longest stretch with tasks waiting: ${duration(w.longestWaitingStretchSec)}`,
    `  in ${w.waitingWhileWouldBeLarger} cycle(s) tasks waited while gpu-scaler would have had more GPUs`,
    '',
  );
  return lines.join('\n');
}

export function registerShadowReport(program: Command, io: CliIo): void {
  program
    .command('shadow-report')
    .description('compare what a shadow run (MODE=shadow) would have done with what the fleet actually did')
    .option('--since <time>', `the window's start: ${TIME_FORMS}, ${AGO_FORMS}`, '1d')
    .addOption(untilOption("the window's end (default: now); a time, as the report is of a span of time"))
    .option('--top <n>', 'how many moments of disagreement to list', wholeNumber('--top', 0), 5)
    .addOption(utcOption())
    .addOption(jsonOption('print the report as JSON'))
    .addOption(nowOption())
    .addHelpText(
      'after',
      '\nExamples:\n  gpu-scaler shadow-report --since 1d\n  gpu-scaler shadow-report --since 7d --json\n\nThe would-be fleet is the intended actions folded in order (a would-be worker counts from the moment it is\nintended); the actual fleet is every pod the provider listed at the start of each cycle, whoever made it.',
    )
    .action(async (o: ShadowReportOptions) => {
      process.exitCode = await withStore(io, (store) => runShadowReport(store, io, o));
    });
}
