import type { PoolFigures, PoolsSimResult } from './pools';
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

/** A run of several pools, for people: one line per pool and the total, then what held them. */
export function poolsReportText(r: PoolsSimResult, traceName: string, configFile: string | null): string {
  const caps = [
    r.caps.gpus !== undefined ? `GLOBAL_MAX_ACTIVE_GPUS=${r.caps.gpus}` : '',
    r.caps.usdPerHour !== undefined ? `GLOBAL_MAX_HOURLY_COST_USD=${r.caps.usdPerHour}` : '',
  ].filter(Boolean);
  const head =
    `simulate ${traceName}: ${r.pools.length} pool${r.pools.length === 1 ? '' : 's'}${configFile ? ` (${configFile})` : ''}, ` +
    `seed ${r.seed}, ${r.total.tasks} tasks, ${(r.simulatedSec / 3600).toFixed(2)} h simulated; ` +
    `${caps.length ? caps.join(', ') : 'no global cap'}\n`;
  const cells = (f: PoolFigures) => [
    f.pool,
    f.policy ?? '',
    f.priority === null ? '' : String(f.priority),
    String(f.tasks),
    `${f.wait.p50} s`,
    `${f.wait.p95} s`,
    pct(f.overSlo),
    f.gpuHours.toFixed(2),
    f.costUsd === null ? '-' : f.costUsd.toFixed(2),
    `${f.spawns}${f.spawnFailures ? ` (${f.spawnFailures} failed)` : ''}`,
    String(f.heldBack),
    String(f.peakWorkers),
  ];
  const table = alignedTable(
    [
      'pool',
      'policy',
      'priority',
      'tasks',
      'wait p50',
      'wait p95',
      'over SLO',
      'GPU-hours',
      'cost USD',
      'spawns',
      'held back',
      'peak',
    ],
    [...r.pools.map(cells), cells(r.total)],
  );
  const notes = [
    '  held back: spawns a global cap held back (the decisions that got less than they wanted, and refusals by the global budget)',
    ...(r.total.costUsd === null ? ['  cost: - where a pool has no SIM_GPU_HOURLY_USD'] : []),
    "  total peak: the sum of the pools' peaks (an upper bound of the fleet's)",
    ...(r.undrained ? [`  NOT DRAINED (pool ${r.undrained.pool}) ${r.undrained.message}`] : []),
  ];
  return `${head}${table}${notes.join('\n')}\n`;
}

/** A table with a rule under its head, the first column left-aligned and the rest right-aligned. */
function alignedTable(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i <= 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return `${[line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')}\n`;
}
