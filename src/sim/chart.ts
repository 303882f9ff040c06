import fs from 'node:fs';
import type { SimResult } from './simulate';

/** `<` and `&` escaped, so data and labels cannot end the script element they are embedded in. */
const safeJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c').replace(/&/g, '\\u0026');

const escapeHtml = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

/**
 * A self-contained HTML chart of a simulation (uPlot's own JS and CSS inlined from node_modules, no
 * network needed): queued tasks, active tasks and workers over time, with each scale-up, scale-down
 * and anomaly marked as a point (hover for the cycle's figures, click the legend to hide a series).
 */
export function chartHtml(result: SimResult, startMs: number, title: string): string {
  const js = fs.readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const css = fs.readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  const tl = result.timeline;
  const x = tl.map((p) => startMs / 1000 + p.t);
  const at = new Map(tl.map((p, i) => [p.t, i]));
  const markSeries = (kind: string, value: (i: number) => number) => {
    const ys: (number | null)[] = tl.map(() => null);
    for (const m of result.marks) {
      const i = at.get(m.t);
      if (m.kind === kind && i !== undefined) ys[i] = value(i);
    }
    return ys;
  };
  const data = [
    x,
    tl.map((p) => p.queued),
    tl.map((p) => p.active),
    tl.map((p) => p.workers),
    markSeries('SCALE_UP', (i) => tl[i].workers),
    markSeries('SCALE_DOWN', (i) => tl[i].workers),
    markSeries('anomaly', (i) => tl[i].queued),
  ];
  const labels: Record<number, string[]> = {};
  for (const m of result.marks) {
    const k = m.t + startMs / 1000;
    labels[k] = [...(labels[k] ?? []), `${m.kind}: ${m.label}`];
  }
  const summary = `${result.policy}: ${result.gpuSeconds} GPU-s = ${result.ratio}x the work bound; wait p50 ${result.wait.p50} s, p95 ${result.wait.p95} s, max ${result.wait.max} s; ${(result.overSlo * 100).toFixed(1)}% over ${result.sloSec} s; ${result.spawns} spawns, peak ${result.peakWorkers} workers`;
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>${css}
body{font:14px system-ui,sans-serif;margin:16px} #marks{font-size:12px;color:#555;min-height:1.5em}</style>
</head><body>
<h2>${escapeHtml(title)}</h2>
<p>${escapeHtml(summary)}</p>
<div id="chart"></div>
<div id="marks"></div>
<script>${js}</script>
<script>
const data = ${safeJson(data)};
const labels = ${safeJson(labels)};
const pts = (stroke) => ({ stroke, width: 0, paths: () => null, points: { show: true, size: 9, fill: stroke, stroke } });
const opts = {
  width: Math.max(600, window.innerWidth - 40), height: 480,
  cursor: { drag: { x: true, y: false } },
  scales: { x: { time: true } },
  series: [
    {},
    { label: 'queued tasks', stroke: '#d62728', width: 1.5 },
    { label: 'active tasks', stroke: '#2ca02c', width: 1.5 },
    { label: 'workers', stroke: '#1f77b4', width: 2 },
    Object.assign({ label: 'scale up' }, pts('#ff7f0e')),
    Object.assign({ label: 'scale down' }, pts('#9467bd')),
    Object.assign({ label: 'anomaly' }, pts('#000000')),
  ],
  axes: [{}, { label: 'tasks / workers' }],
  hooks: { setCursor: [(u) => {
    const i = u.cursor.idx;
    document.getElementById('marks').textContent = i == null ? '' : (labels[u.data[0][i]] || []).join('; ');
  }] },
};
new uPlot(opts, data, document.getElementById('chart'));
</script>
</body></html>
`;
}
