/**
 * Where a pod was placed and which candidates were passed over, in words: the one renderer of a
 * spawn's placement, called by the reactor's log lines, `explain`, `events` and `status`. It reads the
 * structured `details` a provider records with WorkerSpawned / WorkerSpawnFailed (RunPod: gpuTypeId,
 * dataCenterId, costPerHr, candidatesPassed or candidates), so old events and other providers
 * (no such fields) render as nothing.
 */

type Obj = Record<string, unknown>;

const asObj = (v: unknown): Obj | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...v } : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** `NVIDIA A40 in EU-RO-1`, `NVIDIA A40` (any data center). */
function where(o: Obj): string {
  const gpu = str(o.gpuTypeId) ?? 'unknown GPU';
  const dc = str(o.dataCenterId);
  return dc ? `${gpu} in ${dc}` : gpu;
}

/** `NVIDIA L4 in EU-RO-1: no_stock (the catalog shows availability NONE); ...`, or '' for none. */
function candidateList(list: unknown): string {
  if (!Array.isArray(list) || list.length === 0) return '';
  return list
    .map((c) => {
      const o = asObj(c) ?? {};
      const detail = str(o.detail);
      return `${where(o)}: ${String(o.outcome ?? 'skipped')}${detail ? ` (${detail})` : ''}`;
    })
    .join('; ');
}

/** A failed spawn's candidates: ` [candidates: A: no_stock (...); B: rejected (...)]`, or ''. */
export function candidatesText(details: unknown): string {
  const list = candidateList(asObj(details)?.candidates);
  return list ? ` [candidates: ${list}]` : '';
}

/**
 * A placed pod: `on NVIDIA A40 in EU-RO-1 at 0.44 USD/h; passed over: NVIDIA L4 in EU-RO-1: no_stock (...)`,
 * or '' when the provider recorded no placement.
 */
export function placementText(details: unknown): string {
  const d = asObj(details);
  if (!d || !str(d.gpuTypeId)) return '';
  const price = typeof d.costPerHr === 'number' ? ` at ${d.costPerHr.toFixed(2)} USD/h` : '';
  const passed = candidateList(d.candidatesPassed);
  return `on ${where(d)}${price}${passed ? `; passed over: ${passed}` : ''}`;
}

/**
 * Where a spawned worker was placed, as the workers projection keeps it (columns gpu_type,
 * data_center, node of migrations/0016_worker_placement.sql): RunPod's GPU type and data center,
 * Kubernetes' node when the pod was scheduled at once. Null fields: not recorded.
 */
export interface PlacementFacts {
  gpuType: string | null;
  dataCenter: string | null;
  node: string | null;
}

/** The placement facts of a WorkerSpawned's details (all null for a provider that records none). */
export function placementFacts(details: unknown): PlacementFacts {
  const d = asObj(details) ?? {};
  return { gpuType: str(d.gpuTypeId), dataCenter: str(d.dataCenterId), node: str(d.node) };
}

/**
 * A worker's placement in a few words, as `status` lists it: `NVIDIA A40 in EU-RO-1` (RunPod),
 * `node gpu-node-1` (Kubernetes), or '' when nothing was recorded.
 */
export function placedOnText(f: PlacementFacts): string {
  const parts: string[] = [];
  if (f.gpuType || f.dataCenter) {
    parts.push(f.gpuType ? where({ gpuTypeId: f.gpuType, dataCenterId: f.dataCenter }) : `in ${f.dataCenter}`);
  }
  if (f.node) parts.push(`node ${f.node}`);
  return parts.join(', ');
}
