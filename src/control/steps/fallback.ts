import { z } from 'zod';
import type { Config } from '../../config';
import type { ChosenPolicy } from '../../policies/policy';
import { definePolicy } from '../../policies/policy';
import { fallbackReason, type SourceFallback } from '../../policies/render';

/** SOURCE_FAILURE_CYCLES and FALLBACK_WORKERS from the configuration. */
export function sourceFallbackSettings(c: Config): SourceFallback {
  return { afterCycles: c.SOURCE_FAILURE_CYCLES, workers: c.FALLBACK_WORKERS ?? null };
}

/** The fallback in force after `failedCycles` cycles in a row without a valid count; null: not yet. */
export function sourceFallback(f: SourceFallback, failedCycles: number): SourceFallback | null {
  return failedCycles >= f.afterCycles ? f : null;
}

/** The name the fallback's decisions record as their policy. */
export const FALLBACK_POLICY = 'fallback';

const FallbackSettings = z.object({
  SOURCE_FAILURE_CYCLES: z.number().int().positive(),
  FALLBACK_WORKERS: z.number().int().nonnegative().nullable(),
});

/**
 * The policy that decides while the task source is failing (recorded as `fallback` in its
 * decisions), for a cycle that is the `failedCycles`th in a row without a valid count: the live
 * workers as they are, or FALLBACK_WORKERS. The caps, spawning timeouts and lifetimes apply as to
 * every policy, and a scale-down only removes workers idle past the idle timeout, keeping as many as
 * the last valid count had tasks active.
 */
export function fallbackPolicy(f: SourceFallback, failedCycles: number): ChosenPolicy {
  const policy = definePolicy({
    name: FALLBACK_POLICY,
    description: 'while the task source fails: hold the fleet, or go to FALLBACK_WORKERS',
    settings: FallbackSettings,
    lookbackSec: () => 0,
    decide(view, s) {
      const reasons = [
        fallbackReason({ afterCycles: s.SOURCE_FAILURE_CYCLES, workers: s.FALLBACK_WORKERS }, failedCycles),
      ];
      if (s.FALLBACK_WORKERS === null) {
        const n = view.workers.total;
        return {
          desired: n,
          terms: [{ name: 'held', value: n, formula: 'live workers held' }],
          combine: 'held',
          reasons,
        };
      }
      const n = s.FALLBACK_WORKERS;
      return {
        desired: n,
        terms: [{ name: 'fallbackWorkers', value: n, formula: `FALLBACK_WORKERS=${n}` }],
        combine: 'fallbackWorkers',
        reasons,
      };
    },
  });
  return { policy, settings: { SOURCE_FAILURE_CYCLES: f.afterCycles, FALLBACK_WORKERS: f.workers } };
}
