import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CliIo } from '../src/cli/context';
import { runSimulate, type SimulateFlags } from '../src/cli/simulate';
import { packageRoot } from '../src/util/package-root';
import { SHAPES, syntheticTrace } from './synthetic-traces';

/**
 * The parked-pods sweep (docs/parked-pods.md), in `BENCH_ONLY=simulate npm run bench`: PARKED_MAX
 * 0, 2, 5, 10 under each policy variant, at start shares 0.9 and 0.6 (starts up in 10-30 s, cold
 * starts 60-180 s), on the generated shapes (seed 1) and the shared traces. Per row: GPU-seconds
 * against the same variant's PARKED_MAX=0 run, wait p95, share over 60 s, parked pod-hours beside
 * the GPU-hours saved. The whole sweep, never one best point: the start figures are assumptions
 * (the record measures them: `gpu-scaler status`). BENCH_PARKING_QUICK=1: PARKED_MAX 0 and 5, share
 * 0.9, the shapes only.
 */

const VARIANTS: { name: string; policy: string; set: string[] }[] = [
  { name: 'operators (idle 300 s)', policy: 'operators', set: [] },
  { name: 'operators, idle 90 s', policy: 'operators', set: ['GPU_IDLE_TIMEOUT_SEC=90'] },
  { name: 'default', policy: 'default', set: [] },
];

const TRACES = [
  { file: 'alibaba-genai-lora-6h-burst.csv', flags: {} },
  {
    file: 'azure-llm-2023-code.csv',
    flags: {
      timeColumn: 'TIMESTAMP',
      prefillTps: '10000',
      decodeTps: '50',
      inputTokensColumn: 'ContextTokens',
      outputTokensColumn: 'GeneratedTokens',
    },
  },
];

const BASE: SimulateFlags = {
  trace: '',
  maxBadShare: '0.01',
  seed: '1',
  set: [],
  startupMinSec: '60',
  startupMaxSec: '180',
  failureRate: '0',
  sloSec: '60',
  json: true,
  progress: false,
};

interface Run {
  gpuSeconds: number;
  ratio: number;
  wait: { p95: number };
  overSlo: number;
  parking: { parked: number; unparked: number; refused: number; parkedPodHours: number };
}

function quietIo(): CliIo & { out: () => string } {
  let text = '';
  const sink = (fn: (s: string) => void) =>
    ({
      write(s: string) {
        fn(s);
        return true;
      },
    }) as unknown as NodeJS.WritableStream;
  return {
    stdout: sink((s) => {
      text += s;
    }),
    stderr: sink(() => {}),
    stdin: process.stdin,
    env: {},
    isTTY: false,
    out: () => text,
  };
}

async function one(flags: Partial<SimulateFlags>): Promise<Run> {
  const io = quietIo();
  await runSimulate(io, { ...BASE, ...flags });
  return JSON.parse(io.out()) as Run;
}

async function sweepTrace(label: string, flags: Partial<SimulateFlags>, quick: boolean): Promise<void> {
  const maxes = quick ? [0, 5] : [0, 2, 5, 10];
  const shares = quick ? ['0.9'] : ['0.9', '0.6'];
  for (const v of VARIANTS) {
    const base = await one({ ...flags, policy: v.policy, set: v.set });
    const row = (max: number, share: string, r: Run) => {
      const savedH = (base.gpuSeconds - r.gpuSeconds) / 3600;
      console.log(
        `| ${label} | ${v.name} | ${max} | ${max === 0 ? '-' : share} | ${r.ratio.toFixed(2)}x | ${max === 0 ? '-' : `${((r.gpuSeconds / base.gpuSeconds - 1) * 100).toFixed(1)}%`} | ${r.wait.p95} | ${(r.overSlo * 100).toFixed(1)}% | ${r.parking.parkedPodHours.toFixed(1)} | ${max === 0 ? '-' : savedH.toFixed(1)} | ${r.parking.unparked}/${r.parking.refused} |`,
      );
    };
    row(0, '-', base);
    for (const max of maxes.filter((m) => m > 0))
      for (const share of shares) {
        const r = await one({
          ...flags,
          policy: v.policy,
          set: [...v.set, `PARKED_MAX=${max}`],
          unparkSuccess: share,
          unparkMinSec: '10',
          unparkMaxSec: '30',
        });
        row(max, share, r);
      }
  }
}

export async function parkingBench(): Promise<void> {
  const quick = process.env.BENCH_PARKING_QUICK === '1';
  console.log(
    'simulate, parked pods: cold start 60-180 s, a start from parked 10-30 s succeeding at the share shown, SLO 60 s, PARKED_MAX_AGE_SEC 12 h; ' +
      'GPU-s against the same policy with PARKED_MAX=0; parked pod-hours counted to the end of each run',
  );
  console.log(
    '| traffic | policy | PARKED_MAX | start share | GPU-s / work | GPU-s vs PARKED_MAX=0 | wait p95 s | over 60 s | parked pod-h | GPU-h saved | starts ok/refused |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-bench-parking-'));
  try {
    for (const shape of SHAPES) {
      const file = path.join(tmp, `${shape.name}-1.csv`);
      fs.writeFileSync(file, syntheticTrace(shape, 1));
      await sweepTrace(`${shape.name}`, { trace: file, durationColumn: 'duration' }, quick);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (quick) return;
  const dir = process.env.BENCH_TRACES_DIR ?? path.resolve(packageRoot(), '..', 'shared', 'traces');
  for (const t of TRACES) {
    const file = path.join(dir, t.file);
    if (!fs.existsSync(file)) {
      console.log(`| ${t.file} | skipped: not found in ${dir} | | | | | | | | | |`);
      continue;
    }
    await sweepTrace(t.file, { ...t.flags, trace: file }, quick);
  }
  console.log('');
}

if (require.main === module) {
  parkingBench().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
