/**
 * Parked pods, the pure part (docs/parked-pods.md): which idle worker is parked or terminated,
 * which parked worker is started first, which parked pods are retired, the one renderer of each
 * parking fact, and the measured start figures (refused share, start-to-ready of unparked against
 * cold-created workers) from the events. The provider calls and appends are in parking-steps.ts.
 */

/** PARKED_MAX, PARKED_MAX_AGE_SEC, PARKED_HOURLY_USD. */
export interface ParkingSettings {
  max: number;
  maxAgeSec: number;
  /** USD per hour one parked pod bills (its disk); null: unknown. */
  hourlyUsd: number | null;
}

/** A worker of the pool as parking reads it (from the workers projection). */
export interface PoolWorker {
  workerId: string;
  podId: string | null;
  status: string;
  /** When it was last parked (ISO), null if never. */
  parkedAt: string | null;
  unparks: number;
  /** `<decision event id>#<ordinal>` of its last start from parked, null if never. */
  unparkSlot: string | null;
  hourlyCostUsd: number | null;
  /** The position of its last event: orders workers parked in the same instant (later is more recent). */
  position: number;
}

/**
 * Whether an idle worker is parked rather than terminated: only for the idle reason, with a pod, a
 * provider that parks, and fewer than PARKED_MAX parked now. Says why either way.
 */
export function parkChoice(
  s: ParkingSettings,
  o: { parkedNow: number; providerParks: boolean; hasPod: boolean },
): { park: boolean; why: string } {
  if (s.max <= 0) return { park: false, why: 'PARKED_MAX=0' };
  if (!o.providerParks) return { park: false, why: 'the provider cannot stop and start pods' };
  if (!o.hasPod) return { park: false, why: 'it has no pod' };
  if (o.parkedNow >= s.max) return { park: false, why: `${o.parkedNow} parked already, PARKED_MAX=${s.max}` };
  return { park: true, why: `parked ${o.parkedNow + 1} of PARKED_MAX=${s.max}` };
}

const mostRecentFirst = (a: PoolWorker, b: PoolWorker) =>
  String(b.parkedAt).localeCompare(String(a.parkedAt)) || b.position - a.position;

/** The parked worker to start for the next slot: the most recently parked first (its disk is the freshest). */
export function pickToUnpark(pool: readonly PoolWorker[], maxHourlyUsd: number | null): PoolWorker | null {
  const parked = pool
    .filter((w) => w.status === 'parked' && w.podId !== null)
    .filter((w) => maxHourlyUsd === null || w.hourlyCostUsd === null || w.hourlyCostUsd <= maxHourlyUsd + 1e-9)
    .sort(mostRecentFirst);
  return parked[0] ?? null;
}

/**
 * Parked pods to terminate now: those parked longer than PARKED_MAX_AGE_SEC, then the oldest beyond
 * PARKED_MAX (after it was lowered), each with why.
 */
export function toRetire(
  pool: readonly PoolWorker[],
  now: Date,
  s: ParkingSettings,
): { worker: PoolWorker; reason: 'lifetime' | 'idle'; why: string }[] {
  const parked = pool.filter((w) => w.status === 'parked').sort(mostRecentFirst);
  const out: { worker: PoolWorker; reason: 'lifetime' | 'idle'; why: string }[] = [];
  const kept: PoolWorker[] = [];
  for (const w of parked) {
    const ageSec = w.parkedAt ? (now.getTime() - Date.parse(w.parkedAt)) / 1000 : Number.POSITIVE_INFINITY;
    if (ageSec > s.maxAgeSec)
      out.push({
        worker: w,
        reason: 'lifetime',
        why: `parked for ${durationText(ageSec)}, over PARKED_MAX_AGE_SEC=${s.maxAgeSec}`,
      });
    else kept.push(w);
  }
  for (const w of kept.slice(Math.max(0, s.max)))
    out.push({ worker: w, reason: 'idle', why: `more parked pods than PARKED_MAX=${s.max}: the oldest go` });
  return out;
}

/** `45 s`, `12 min`, `3.5 h`. */
export function durationText(sec: number): string {
  if (!Number.isFinite(sec)) return 'an unknown time';
  if (sec < 120) return `${Math.round(sec)} s`;
  if (sec < 7200) return `${Math.round(sec / 60)} min`;
  return `${Math.round(sec / 360) / 10} h`;
}

const since = (from: string, to: string) => durationText((Date.parse(to) - Date.parse(from)) / 1000);

/** The one renderer of WorkerParked. */
export const parkedLine = (d: { workerId: string; podId: string; detail: string; parkedHourlyUsd: number | null }) =>
  `🅿️ Worker ${d.workerId} parked (pod ${d.podId} stopped, disk kept${d.parkedHourlyUsd === null ? '' : ` at ${d.parkedHourlyUsd.toFixed(3)} USD/h`}): ${d.detail}`;

/** The one renderer of WorkerUnparked (`readySec`: how long until it was up, when known). */
export const unparkedLine = (
  d: { workerId: string; podId: string; ordinal: number; of: number; at: string; parkedAt: string },
  readySec?: number | null,
) =>
  `♻️ Worker ${d.ordinal}/${d.of} from the parked pool (worker ${d.workerId}, pod ${d.podId}, parked ${since(d.parkedAt, d.at)} before)${readySec == null ? '' : `, ready in ${durationText(readySec)}`}`;

/** The one renderer of WorkerUnparkRefused. */
export const unparkRefusedLine = (d: {
  workerId: string;
  podId: string;
  ordinal: number;
  of: number;
  kind: string;
  error: string;
}) =>
  `⛔ Start of parked worker ${d.workerId} (pod ${d.podId}) for worker ${d.ordinal}/${d.of} refused: ${d.kind}: ${d.error}; pod terminated, a new pod is created instead`;

/** A parking or spawning fact as the start figures need it (from the events, any order). */
export type StartFact =
  | { type: 'WorkerSpawnRequested'; workerId: string; at: string }
  | { type: 'WorkerUnparked'; workerId: string; at: string }
  | { type: 'WorkerUnparkRefused'; workerId: string; at: string }
  | { type: 'WorkerActivated'; workerId: string; at: string };

export interface StartFigures {
  unparked: number;
  refused: number;
  /** refused / (unparked + refused); null with no start tried. */
  refusedShare: number | null;
  /** Start-to-ready seconds (request or start to WorkerActivated): their median and p95, null with none. */
  unparkedReady: { n: number; p50: number | null; p95: number | null };
  coldReady: { n: number; p50: number | null; p95: number | null };
}

/** The start figures the record measures: what the model of parking assumed (share refused, start times). */
export function startFigures(facts: readonly StartFact[]): StartFigures {
  const sorted = [...facts].sort((a, b) => a.at.localeCompare(b.at));
  const pending = new Map<string, { kind: 'cold' | 'unparked'; at: string }>();
  const cold: number[] = [];
  const warm: number[] = [];
  let unparked = 0;
  let refused = 0;
  for (const f of sorted) {
    if (f.type === 'WorkerSpawnRequested') pending.set(f.workerId, { kind: 'cold', at: f.at });
    else if (f.type === 'WorkerUnparked') {
      unparked++;
      pending.set(f.workerId, { kind: 'unparked', at: f.at });
    } else if (f.type === 'WorkerUnparkRefused') refused++;
    else {
      const p = pending.get(f.workerId);
      if (!p) continue;
      pending.delete(f.workerId);
      (p.kind === 'cold' ? cold : warm).push(Math.max(0, (Date.parse(f.at) - Date.parse(p.at)) / 1000));
    }
  }
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const at = (p: number) =>
      s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : null;
    return { n: s.length, p50: at(50), p95: at(95) };
  };
  return {
    unparked,
    refused,
    refusedShare: unparked + refused > 0 ? refused / (unparked + refused) : null,
    unparkedReady: stats(warm),
    coldReady: stats(cold),
  };
}

/** The start figures in one line, for status. */
export function startFiguresText(f: StartFigures): string {
  const r = (x: { n: number; p50: number | null; p95: number | null }) =>
    x.n === 0 ? 'none yet' : `median ${durationText(x.p50 ?? 0)}, p95 ${durationText(x.p95 ?? 0)} (${x.n})`;
  const share =
    f.refusedShare === null
      ? 'no start of a parked pod yet'
      : `${f.refused} of ${f.unparked + f.refused} starts of parked pods refused (${(f.refusedShare * 100).toFixed(0)}%)`;
  return `${share}; start to ready: unparked ${r(f.unparkedReady)}, cold ${r(f.coldReady)}`;
}
