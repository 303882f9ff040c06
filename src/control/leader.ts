import type { LeaderLock, LeaderStatus } from '../store/leader-lock';

export { type LeaderLock, type LeaderStatus, postgresLeaderLock } from '../store/leader-lock';

/** What a controller that does not lead says about it. */
export function standingByLine(status: Exclude<LeaderStatus, { kind: 'leading' }>): string {
  return status.kind === 'other'
    ? '⏸️ Another controller leads this store: standing by (trying again every cycle)'
    : `❌ The database is unreachable (${status.error}): standing by, acting on nothing (trying again every cycle)`;
}

/** An embedded store is one process (its data directory is locked): it always leads. */
export const embeddedLeaderLock = (): LeaderLock => ({
  tryAcquire: async () => ({ kind: 'leading' }),
  release: async () => {},
});

/** What a replica says when it gives up a pool beyond its share to a replica that has room. */
export const handOverLine = (share: number, replicas: number): string =>
  `🤝 Handing over the lead: beyond this replica's share (${share} pool${share === 1 ? '' : 's'} each for ${replicas} live replica${replicas === 1 ? '' : 's'}), another replica has room`;
