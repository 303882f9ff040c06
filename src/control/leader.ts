import type { LeaderLock, LeaderStatus } from '../store/leader-lock';

export { type LeaderLock, type LeaderStatus, postgresLeaderLock } from '../store/leader-lock';

/** What a controller that does not lead says about it. */
export function standingByLine(status: Exclude<LeaderStatus, { kind: 'leading' }>): string {
  return status.kind === 'other'
    ? '⏸️ Another controller leads this store: standing by (trying again every cycle)'
    : `❌ The database is unreachable (${status.error}): standing by, acting on nothing (trying again every cycle)`;
}

export const embeddedLeaderLock = (): LeaderLock => ({
  tryAcquire: async () => ({ kind: 'leading' }),
  release: async () => {},
});
