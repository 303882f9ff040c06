import type { SimResult } from './simulate';

/** A result without its timeline: what `--json` prints and what scripts compare. */
export type SimSummary = Omit<SimResult, 'timeline' | 'marks'>;

export function summary(r: SimResult): SimSummary {
  const { timeline: _t, marks: _m, ...rest } = r;
  return rest;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** One run, for people. */
export function reportText(r: SimResult, traceName: string): string {
  const kinds = Object.entries(r.anomalies);
  return [
    `simulate ${traceName}: policy ${r.policy}, seed ${r.seed}, ${r.tasks} tasks, ${r.cycles} cycles (${(r.simulatedSec / 3600).toFixed(2)} h simulated)`,
    `  GPU-seconds billed     ${r.gpuSeconds.toFixed(0)}`,
    `  work bound (run times) ${r.workBoundSec.toFixed(0)}`,
    `  ratio                  ${r.ratio.toFixed(2)}x`,
    `  wait p50/p95/p99/max   ${r.wait.p50} / ${r.wait.p95} / ${r.wait.p99} / ${r.wait.max} s (mean ${r.wait.mean} s)`,
    `  over the SLO (${r.sloSec} s)   ${pct(r.overSlo)}`,
    `  spawns                 ${r.spawns} (${r.spawnFailures} failed)`,
    `  terminations           ${r.terminations}`,
    ...(r.parking.parked + r.parking.unparked > 0
      ? [
          `  parked / unparked      ${r.parking.parked} / ${r.parking.unparked} (${r.parking.refused} starts refused, ${r.parking.parkedPodHours} parked pod-hours)`,
        ]
      : []),
    `  peak workers           ${r.peakWorkers}`,
    `  anomalies              ${kinds.length ? kinds.map(([k, n]) => `${k} ${n}`).join(', ') : 'none'}`,
    `  events written         ${r.eventsWritten}`,
    ...(r.undrained ? [`  NOT DRAINED            ${r.undrained.message}`] : []),
    '',
  ].join('\n');
}

/** Several policies on one trace and seed, one line each. */
export function compareTable(rows: { result: SimResult; wallMs?: number }[]): string {
  const head = ['policy', 'GPU-s', 'ratio', 'wait p50', 'wait p95', 'wait p99', 'over SLO', 'spawns', 'peak'];
  const withWall = rows.some((r) => r.wallMs !== undefined);
  if (withWall) head.push('wall s', 'sim s / wall s');
  const body = rows.map(({ result: r, wallMs }) => {
    const cells = [
      r.policy,
      r.gpuSeconds.toFixed(0),
      `${r.ratio.toFixed(2)}x`,
      `${r.wait.p50} s`,
      `${r.wait.p95} s`,
      `${r.wait.p99} s`,
      pct(r.overSlo),
      String(r.spawns),
      String(r.peakWorkers),
    ];
    if (withWall) {
      const s = (wallMs ?? 0) / 1000;
      cells.push(s.toFixed(2), s > 0 ? (r.simulatedSec / s).toFixed(0) : '-');
    }
    return cells;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return `${[line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')}\n`;
}
