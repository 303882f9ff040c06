/**
 * Which pools a replica leads (pure): replicas spread the pools among themselves, each leading at
 * most its share, ceil(pools / live replicas), unless others are missing: a pool left free for a
 * whole cycle is taken by whoever sees it, share or not, so a dead replica's pools are led again
 * within two cycles. The leases themselves (who holds what) are src/store/leader-lock.ts's.
 */

export interface LeadershipView {
  /** Every pool, in the configuration's order. */
  pools: readonly string[];
  /** This replica's id. */
  me: string;
  /** The live replicas (heartbeat renewed, connection alive), this one among them or not. */
  replicas: readonly string[];
  /** Each pool's live holder (a replica id), null when free; a pool missing here is free. */
  holders: Readonly<Record<string, string | null>>;
  /** The pools that were already free at this replica's previous look (free for a cycle now). */
  freeBefore: readonly string[];
}

export interface LeadershipPlan {
  /** Pools to lead this cycle: the ones held, renewed, and the free ones to take. */
  lead: string[];
  /** Pools this replica leads beyond its share and gives up to a replica that has room. */
  handOver: string[];
  /** The most pools a replica leads while every replica can take its share. */
  share: number;
}

/** Each replica's share of the pools: ceil(pools / live replicas). */
export const shareOf = (pools: number, replicas: number): number => Math.ceil(pools / Math.max(1, replicas));

/**
 * The pools in this replica's order of preference: the list rotated to start at its own slice
 * (replicas sorted by id, slice i starts at pool i * share), so replicas that start together reach
 * for different pools first.
 */
export function preferenceOrder(pools: readonly string[], replicas: readonly string[], me: string): string[] {
  const ids = [...new Set([...replicas, me])].sort();
  const start = (ids.indexOf(me) * shareOf(pools.length, ids.length)) % Math.max(1, pools.length);
  return [...pools.slice(start), ...pools.slice(0, start)];
}

/** What this replica does with the pools this cycle: which to lead (keep and take) and which to hand over. */
export function planLeadership(v: LeadershipView): LeadershipPlan {
  const replicas = [...new Set([...v.replicas, v.me])];
  const share = shareOf(v.pools.length, replicas.length);
  const order = preferenceOrder(v.pools, replicas, v.me);
  const holderOf = (pool: string) => v.holders[pool] ?? null;
  const mine = order.filter((p) => holderOf(p) === v.me);
  const free = order.filter((p) => holderOf(p) === null);
  // another live replica below its share takes what this one gives up (else keep it: others are missing)
  const ledBy = (r: string) => v.pools.filter((p) => holderOf(p) === r).length;
  const room = replicas.filter((r) => r !== v.me).reduce((sum, r) => sum + Math.max(0, share - ledBy(r)), 0);
  const excess = Math.min(Math.max(0, mine.length - share), Math.max(0, room - free.length));
  const handOver = excess > 0 ? mine.slice(mine.length - excess) : [];
  const kept = mine.slice(0, mine.length - excess);
  const dealt = dealFree(v, replicas, share, kept.length);
  const take = free.filter((p) => dealt.get(p) === v.me || v.freeBefore.includes(p));
  return { lead: [...kept, ...take], handOver, share };
}

/**
 * The free pools dealt out among the replicas with room, the same on every replica that sees the
 * same leases: replica by replica (sorted by id), each up to its room, from its own preference
 * order, skipping pools dealt to one before it. So replicas taking a dead replica's pools at the
 * same cycle reach for different ones, and every free pool is taken in one cycle while the views
 * agree (each replica taking the first free pools of its own order, two of them reached for the
 * same pool, one lost it, and the pool left over waited a cycle: bench/replicas.ts, docs/replicas.md).
 */
function dealFree(
  v: LeadershipView,
  replicas: readonly string[],
  share: number,
  keptByMe: number,
): Map<string, string> {
  const holderOf = (pool: string) => v.holders[pool] ?? null;
  const dealt = new Map<string, string>();
  for (const r of [...replicas].sort()) {
    const led = r === v.me ? keptByMe : v.pools.filter((p) => holderOf(p) === r).length;
    let room = Math.max(0, share - led);
    for (const p of preferenceOrder(v.pools, replicas, r)) {
      if (room === 0) break;
      if (holderOf(p) !== null || dealt.has(p)) continue;
      dealt.set(p, r);
      room -= 1;
    }
  }
  return dealt;
}
