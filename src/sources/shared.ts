/**
 * One request per distinct request per cycle, shared by the pools that ask it (issue #25: pools
 * whose task counts come from one endpoint, each with its own paths into the answer). A request
 * (method, URL, body, credentials) in flight is joined, not sent again; its answer (or its failure)
 * is kept for `reuseMs` after it settles, so pools whose cycles start a little apart still share
 * it. Each pool then reads its own figures from the one answer. The service makes one per process;
 * without one, every source asks for itself (a deployment of today).
 */
export class SharedRequests {
  private readonly entries = new Map<string, { answer: Promise<string>; settledAt: number | null }>();

  constructor(
    /** How long a settled answer is reused (the service: half a cycle). */
    private readonly reuseMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The answer to the request named `key`, asking `ask` only when no pool has asked it within the window. */
  get(key: string, ask: () => Promise<string>): Promise<string> {
    const t = this.now();
    for (const [k, e] of this.entries)
      if (e.settledAt !== null && t - e.settledAt > this.reuseMs) this.entries.delete(k);
    const found = this.entries.get(key);
    if (found) return found.answer;
    const entry: { answer: Promise<string>; settledAt: number | null } = { answer: ask(), settledAt: null };
    const settle = () => {
      entry.settledAt = this.now();
    };
    entry.answer.then(settle, settle);
    this.entries.set(key, entry);
    return entry.answer;
  }
}
