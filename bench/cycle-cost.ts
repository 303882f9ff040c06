import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { loadConfig } from '../src/config';
import { simulate } from '../src/sim/simulate';
import { parseTrace } from '../src/sim/trace';
import { packageRoot } from '../src/util/package-root';
import { SHAPES, syntheticTrace } from './synthetic-traces';

/**
 * `BENCH_ONLY=cycles npm run bench`: does the cost of a cycle grow with history? 30 simulated
 * days of diurnal traffic (bench/synthetic-traces.ts, 0.5 to 6 busy GPUs a day, seed 1) through the
 * real controller in one process: the wall ms per cycle on day 1 and on day 30 (target: within 20%
 * of each other), and the days between. Then 7 days of the same traffic as a `gpu-scaler simulate`
 * process, start-up included (target: under 20 s). Figures are printed, never enforced. Every event of
 * the run stays in memory (the in-memory store keeps the whole record), so the garbage collector's
 * pauses are printed apart: they grow with the heap, the cycle's own work must not.
 */

const DAY = 86_400;

function diurnalCsv(days: number): string {
  const diurnal = SHAPES.find((s) => s.name === 'diurnal');
  if (!diurnal) throw new Error('bench/synthetic-traces.ts has no diurnal shape');
  return syntheticTrace({ ...diurnal, spanSec: days * DAY }, 1);
}

export async function cycleCostBench(): Promise<void> {
  const days = Math.max(2, Number.parseInt(process.env.BENCH_CYCLE_DAYS ?? '30', 10) || 30);
  const csv = diurnalCsv(days);
  const trace = parseTrace(csv);
  console.log(
    `cycle cost: ${days} simulated days of diurnal traffic (${trace.tasks.length.toLocaleString('en')} tasks), 30 s cycles, operators, cold start 60-180 s`,
  );
  // wall ms and this process's CPU ms (user + system) per cycle: on a shared machine the CPU time is
  // the figure other processes move least
  const perDay = Array.from({ length: days + 1 }, () => ({ ms: 0, cpuMs: 0, gcMs: 0, cycles: 0, endMs: 0 }));
  // the garbage collector's pauses, by simulated day: what the retained record (every event is kept
  // in memory) costs, apart from the cycle's own work. The run never yields to the event loop, so
  // they are delivered after it and put in the day whose wall time they fell in.
  const pauses: { at: number; ms: number }[] = [];
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push({ at: e.startTime, ms: e.duration });
  });
  gc.observe({ entryTypes: ['gc'] });
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  const started = last;
  const { result } = await simulate({
    trace,
    config: loadConfig({ POLICY: 'operators', MAX_ACTIVE_GPUS: '10' }),
    seed: 1,
    startup: { minSec: 60, maxSec: 180 },
    failureRate: 0,
    sloSec: 60,
    onProgress: (doneSec) => {
      const now = performance.now();
      const cpu = process.cpuUsage(lastCpu);
      const d = Math.min(days, Math.floor(doneSec / DAY));
      perDay[d].endMs = now;
      perDay[d].ms += now - last;
      perDay[d].cpuMs += (cpu.user + cpu.system) / 1000;
      perDay[d].cycles++;
      last = now;
      lastCpu = process.cpuUsage();
    },
  });
  const wall = (performance.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 100));
  gc.disconnect();
  for (const p of pauses) {
    const d = perDay.findIndex((x) => x.cycles > 0 && p.at < x.endMs);
    if (d >= 0) perDay[d].gcMs += p.ms;
  }
  const ms = (d: number) => (perDay[d].cycles ? perDay[d].ms / perDay[d].cycles : Number.NaN);
  const cpuMs = (d: number) => (perDay[d].cycles ? perDay[d].cpuMs / perDay[d].cycles : Number.NaN);
  const gcMs = (d: number) => (perDay[d].cycles ? perDay[d].gcMs / perDay[d].cycles : Number.NaN);
  const first = ms(0);
  const lastDay = ms(days - 1);
  const marks = [0, 6, 13, 20, 27, days - 1].filter((d, i, a) => d < days && a.indexOf(d) === i);
  console.log(`| day | ${marks.map((d) => d + 1).join(' | ')} |`);
  console.log(`| --- | ${marks.map(() => '---:').join(' | ')} |`);
  console.log(`| wall ms per cycle | ${marks.map((d) => ms(d).toFixed(3)).join(' | ')} |`);
  console.log(`| CPU ms per cycle | ${marks.map((d) => cpuMs(d).toFixed(3)).join(' | ')} |`);
  console.log(`| GC pause ms per cycle | ${marks.map((d) => gcMs(d).toFixed(3)).join(' | ')} |`);
  console.log(`| CPU minus GC ms per cycle | ${marks.map((d) => (cpuMs(d) - gcMs(d)).toFixed(3)).join(' | ')} |`);
  const change = (a: number, b: number) => `${b >= a ? '+' : ''}${((b / a - 1) * 100).toFixed(0)}%`;
  console.log(
    `day 1 ${first.toFixed(3)} ms per cycle, day ${days} ${lastDay.toFixed(3)} ms (${change(first, lastDay)}; CPU ${cpuMs(0).toFixed(3)} -> ${cpuMs(days - 1).toFixed(3)} ms, ${change(cpuMs(0), cpuMs(days - 1))}; target within 20%); ${result.cycles.toLocaleString('en')} cycles, ${result.eventsWritten.toLocaleString('en')} events in ${wall.toFixed(1)} s`,
  );

  const week = perDay.slice(0, Math.min(7, days));
  console.log(
    `the first ${week.length} days of that run: ${(week.reduce((n, d) => n + d.ms, 0) / 1000).toFixed(1)} s wall, ${(week.reduce((n, d) => n + d.cpuMs, 0) / 1000).toFixed(1)} s CPU`,
  );

  // 7 days as a CLI process, start-up included
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-bench-week-'));
  try {
    const file = path.join(tmp, 'week.csv');
    fs.writeFileSync(file, diurnalCsv(7));
    const bin = path.join(packageRoot(), 'bin', 'gpu-scaler.js');
    const t0 = performance.now();
    const out = execFileSync(process.execPath, [bin, 'simulate', '--trace', file, '--policy', 'operators', '--json'], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const weekSec = (performance.now() - t0) / 1000;
    const r = JSON.parse(out) as { cycles: number; tasks: number };
    console.log(
      `7 days (${r.tasks.toLocaleString('en')} tasks, ${r.cycles.toLocaleString('en')} cycles) as a gpu-scaler simulate process, start-up included: ${weekSec.toFixed(1)} s wall (target < 20 s)`,
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log('');
}
