/** The measured runs of one side of a workload. */
export interface SideResult {
  events: number;
  /** Wall time of each measured run, in order. */
  ms: number[];
  /** Peak RSS of each run (bytes), for workloads that track it. */
  peakRss?: number[];
  /** RSS when each run started (bytes). */
  startRss?: number[];
}

export interface WorkloadResult {
  name: string;
  target: number;
  raw: SideResult;
  ours: SideResult;
  /** Wrong results (not slowness): the throughput of that workload is not comparable. */
  problems?: string[];
}

const rate = (s: SideResult, ms: number) => s.events / (ms / 1000);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A side's median events/s over its runs. */
const typical = (s: SideResult) => median(s.ms.map((ms) => rate(s, ms)));
const fmtRate = (r: number) => Math.round(r).toLocaleString('en');
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;

/**
 * ours/raw: the median of the per-round ratios (run i of ours against run i of raw, which ran
 * next to it), so a slow spell of the machine counts against both sides of one round only.
 */
export function ratio(r: WorkloadResult): number {
  const n = Math.min(r.ours.ms.length, r.raw.ms.length);
  return median(Array.from({ length: n }, (_, i) => (r.raw.ms[i] / r.ours.ms[i]) * (r.ours.events / r.raw.events)));
}

function table(header: string[], rows: string[][], right: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function printResults(results: WorkloadResult[]): void {
  const rows = results.map((r) => {
    const q = ratio(r);
    return [
      r.name,
      fmtRate(typical(r.raw)),
      fmtRate(typical(r.ours)),
      `${q.toFixed(2)}x`,
      `>= ${r.target.toFixed(1)}x`,
      r.problems?.length ? 'WRONG' : q >= r.target ? 'PASS' : 'MISS',
    ];
  });
  console.log(
    table(['workload', 'raw ev/s', 'ours ev/s', 'ours/raw', 'target', 'result'], rows, [
      false,
      true,
      true,
      true,
      true,
      false,
    ]),
  );

  console.log('\nevery measured run in round order (events/s; ours/raw is the median of the per-round ratios):');
  for (const r of results) {
    const runs = (s: SideResult) => s.ms.map((ms) => fmtRate(rate(s, ms))).join(' / ');
    console.log(`  ${r.name}: raw ${runs(r.raw)}; ours ${runs(r.ours)}`);
  }

  for (const r of results) {
    if (!r.raw.peakRss || !r.ours.peakRss) continue;
    const rss = (s: SideResult) => s.peakRss!.map((p, i) => `${mb(p)} (from ${mb(s.startRss?.[i] ?? 0)})`).join(' / ');
    console.log(`\npeak RSS during ${r.name}:\n  raw  ${rss(r.raw)}\n  ours ${rss(r.ours)}`);
  }
  const wrong = results.filter((r) => r.problems?.length);
  for (const r of wrong) {
    console.log(`\nWRONG RESULT in ${r.name} (its events/s are not comparable):`);
    for (const p of r.problems!) console.log(`  ${p}`);
  }
  const missed = results.filter((r) => ratio(r) < r.target || r.problems?.length).length;
  console.log(
    `\n${results.length - missed} of ${results.length} targets met` +
      (missed ? ' (reported, not failed: the bench exits 0 whatever the results)' : ''),
  );
}
