/**
 * Waits for a condition, not for a time: polls `check` every `everyMs` until it returns a truthy
 * value, and resolves to that value. Throws naming `what` (and the last value seen, when `describe`
 * gives one) after `timeoutMs`.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 15_000,
  opts: { everyMs?: number; describe?: () => string } = {},
): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Exclude<T, false | null | undefined | 0 | ''>;
    if (Date.now() > until) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${opts.describe ? `: ${opts.describe()}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 20));
  }
}
