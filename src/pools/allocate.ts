/**
 * One budget across pools: how the global caps (GLOBAL_MAX_ACTIVE_GPUS, GLOBAL_MAX_HOURLY_COST_USD)
 * are shared among pools that together want more. A pure function of what each pool wants, so the
 * live controller, `simulate` and `what-if` share it, and each pool's decision can record the whole
 * allocation and say why it got what it got.
 *
 * The rules, in order:
 * 1. Every pool gets its floor (MIN_ACTIVE_GPUS, in workers) first, whatever its priority. Floors that
 *    alone pass a global cap are a configuration error (floorProblems), found at start.
 * 2. The rest goes to the highest priority first. A priority whose pools all fit gets all it wants.
 * 3. Pools of the one priority that does not fit share what is left in proportion to what each wants
 *    beyond its floor (Hamilton's largest remainder method, in whole workers; a worker that fits no
 *    longer goes to the next largest remainder), ties broken by pool name, so the result is
 *    deterministic. Lower priorities get only what that priority's workers cannot use (often nothing).
 * Both caps hold at once: the proportion is taken by whichever cap binds harder.
 */

export const GLOBAL_GPU_CAP = 'GLOBAL_MAX_ACTIVE_GPUS';
export const GLOBAL_COST_CAP = 'GLOBAL_MAX_HOURLY_COST_USD';
export type GlobalCapName = typeof GLOBAL_GPU_CAP | typeof GLOBAL_COST_CAP;

export interface GlobalCaps {
  /** GLOBAL_MAX_ACTIVE_GPUS; undefined: no cap on the sum of GPUs. */
  gpus?: number;
  /** GLOBAL_MAX_HOURLY_COST_USD; undefined: no cap on the sum of burn rates. */
  usdPerHour?: number;
}

/** What one pool asks of the shared budget this cycle (in workers, as its policy decided them). */
export interface PoolClaim {
  pool: string;
  /** PRIORITY: higher is served first. */
  priority: number;
  /** Workers the pool's policy wants after its own caps. */
  wantWorkers: number;
  /** Workers the pool keeps whatever others want (its MIN_ACTIVE_GPUS in workers). */
  floorWorkers: number;
  gpusPerWorker: number;
  /** USD per hour one of its workers costs; null: unknown (then only the GPU cap can hold it back). */
  usdPerWorker: number | null;
}

/** What one pool got, and why. */
export interface PoolShare {
  pool: string;
  priority: number;
  wantWorkers: number;
  floorWorkers: number;
  gotWorkers: number;
  gpusPerWorker: number;
  /** The global cap that held this pool below what it wanted; null: it got all it wanted. */
  limitedBy: GlobalCapName | null;
}

export interface Allocation {
  caps: GlobalCaps;
  /** Every pool's share, in the order the claims were given. */
  shares: PoolShare[];
}

const costOf = (c: PoolClaim, workers: number) => (c.usdPerWorker ?? 0) * workers;

/** Floors that alone pass a global cap: a configuration error, each line naming the cap and the floors. */
export function floorProblems(claims: readonly PoolClaim[], caps: GlobalCaps): string[] {
  const problems: string[] = [];
  const gpus = claims.reduce((s, c) => s + c.floorWorkers * c.gpusPerWorker, 0);
  const list = claims
    .filter((c) => c.floorWorkers > 0)
    .map((c) => `${c.pool} ${c.floorWorkers * c.gpusPerWorker}`)
    .join(', ');
  if (caps.gpus !== undefined && gpus > caps.gpus)
    problems.push(
      `${GLOBAL_GPU_CAP}=${caps.gpus} is not allowed: the pools' floors (MIN_ACTIVE_GPUS) alone take ${gpus} GPUs (${list}); raise the cap or lower the floors`,
    );
  const usd = claims.reduce((s, c) => s + costOf(c, c.floorWorkers), 0);
  if (caps.usdPerHour !== undefined && usd > caps.usdPerHour + 1e-9)
    problems.push(
      `${GLOBAL_COST_CAP}=${caps.usdPerHour} is not allowed: the pools' floors alone cost ${usd.toFixed(2)} USD/h; raise the cap or lower the floors`,
    );
  return problems;
}

/** Shares the global caps among the pools' claims (see the rules above). */
export function allocate(claims: readonly PoolClaim[], caps: GlobalCaps): Allocation {
  for (const c of claims) {
    if (
      !Number.isInteger(c.wantWorkers) ||
      c.wantWorkers < 0 ||
      !Number.isInteger(c.floorWorkers) ||
      c.floorWorkers < 0
    )
      throw new Error(`pool ${c.pool}: wanted and floor workers must be whole numbers >= 0`);
  }
  const got = new Map<string, number>();
  let gpusLeft = caps.gpus ?? Number.POSITIVE_INFINITY;
  let usdLeft = caps.usdPerHour ?? Number.POSITIVE_INFINITY;
  const take = (c: PoolClaim, workers: number) => {
    got.set(c.pool, (got.get(c.pool) ?? 0) + workers);
    gpusLeft -= workers * c.gpusPerWorker;
    usdLeft -= costOf(c, workers);
  };
  // 1. floors, whatever the priority (never more than the pool wants)
  for (const c of claims) take(c, Math.min(c.floorWorkers, c.wantWorkers));
  const extra = (c: PoolClaim) => c.wantWorkers - Math.min(c.floorWorkers, c.wantWorkers);
  const fits = (c: PoolClaim, workers: number) =>
    workers * c.gpusPerWorker <= gpusLeft + 1e-9 && costOf(c, workers) <= usdLeft + 1e-9;

  // 2. by priority, highest first
  const priorities = [...new Set(claims.map((c) => c.priority))].sort((a, b) => b - a);
  for (const p of priorities) {
    const group = claims.filter((c) => c.priority === p && extra(c) > 0);
    if (group.length === 0) continue;
    const gpusWanted = group.reduce((s, c) => s + extra(c) * c.gpusPerWorker, 0);
    const usdWanted = group.reduce((s, c) => s + costOf(c, extra(c)), 0);
    if (gpusWanted <= gpusLeft + 1e-9 && usdWanted <= usdLeft + 1e-9) {
      for (const c of group) take(c, extra(c));
      continue;
    }
    // 3. the priority that does not fit: largest remainder in proportion to what each wants
    const fraction = Math.min(
      gpusWanted > 0 ? Math.max(0, gpusLeft) / gpusWanted : 1,
      usdWanted > 0 ? Math.max(0, usdLeft) / usdWanted : 1,
      1,
    );
    const quotas = group.map((c) => ({ c, quota: extra(c) * fraction, given: 0 }));
    for (const q of quotas) {
      const base = Math.floor(q.quota + 1e-9);
      q.given = base;
      take(q.c, base);
    }
    const order = [...quotas].sort(
      (a, b) =>
        b.quota - Math.floor(b.quota + 1e-9) - (a.quota - Math.floor(a.quota + 1e-9)) || cmp(a.c.pool, b.c.pool),
    );
    // what is left goes one worker at a time by largest remainder, while a worker fits
    let gave = true;
    while (gave) {
      gave = false;
      for (const q of order) {
        if (q.given < extra(q.c) && fits(q.c, 1)) {
          take(q.c, 1);
          q.given += 1;
          gave = true;
        }
      }
      // the first pass spends the remainders; later ones fill what pools with larger workers left
    }
    // lower priorities go on with what is left: only what the higher one could not use (a part of
    // a GPU its workers are too large for), so they never take from it
  }

  const shares = claims.map((c): PoolShare => {
    const g = got.get(c.pool) ?? 0;
    let limitedBy: GlobalCapName | null = null;
    if (g < c.wantWorkers) {
      // the cap that the pool's next worker does not fit under (GPUs first when both bind)
      limitedBy =
        caps.gpus !== undefined && c.gpusPerWorker > gpusLeft + 1e-9
          ? GLOBAL_GPU_CAP
          : caps.usdPerHour !== undefined
            ? GLOBAL_COST_CAP
            : GLOBAL_GPU_CAP;
    }
    return {
      pool: c.pool,
      priority: c.priority,
      wantWorkers: c.wantWorkers,
      floorWorkers: c.floorWorkers,
      gotWorkers: g,
      gpusPerWorker: c.gpusPerWorker,
      limitedBy,
    };
  });
  return { caps, shares };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const gpus = (s: PoolShare, workers: number) => workers * s.gpusPerWorker;

/**
 * Why a pool got what it got, in words ("wanted 6 GPUs, got 2: GLOBAL_MAX_ACTIVE_GPUS=8 went first to
 * video (priority 10, wanted 6)"): the one rendering of a pool's share, for explain, status and the log.
 */
export function shareText(allocation: Allocation, pool: string): string {
  const s = allocation.shares.find((x) => x.pool === pool);
  if (!s) return `pool ${pool} took no part in the allocation`;
  const head = `wanted ${gpus(s, s.wantWorkers)} GPUs, got ${gpus(s, s.gotWorkers)}`;
  if (s.limitedBy === null) return `${head}: within the global caps`;
  const capValue = s.limitedBy === GLOBAL_GPU_CAP ? allocation.caps.gpus : allocation.caps.usdPerHour;
  const cap = `${s.limitedBy}=${capValue}`;
  const first = allocation.shares.filter((x) => x.priority > s.priority && x.gotWorkers > x.floorWorkers);
  const peers = allocation.shares.filter((x) => x.priority === s.priority && x.pool !== s.pool && x.gotWorkers > 0);
  const parts: string[] = [];
  if (first.length)
    parts.push(
      `went first to ${first.map((x) => `${x.pool} (priority ${x.priority}, wanted ${gpus(x, x.wantWorkers)})`).join(', ')}`,
    );
  if (peers.length)
    parts.push(
      `${first.length ? 'the rest was ' : ''}shared in proportion to what each wanted with ${peers
        .map(
          (x) => `${x.pool} (priority ${x.priority}, wanted ${gpus(x, x.wantWorkers)}, got ${gpus(x, x.gotWorkers)})`,
        )
        .join(', ')}`,
    );
  if (s.floorWorkers > 0 && s.gotWorkers === Math.min(s.floorWorkers, s.wantWorkers))
    parts.push(`its floor MIN_ACTIVE_GPUS=${gpus(s, s.floorWorkers)} held`);
  return `${head}: ${cap} ${parts.join('; ') || 'was used up'}`;
}
