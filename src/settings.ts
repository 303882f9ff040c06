import { z } from 'zod';

/**
 * How one setting's text is read: the helpers every block of settings (the core's in config.ts, each
 * provider's) builds its schema from, so the same words ("a whole number", "true/false", a list)
 * mean the same thing in every block.
 */

/** A whole number within [min, max]. */
export const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

/** A number within [min, max]. */
export const num = (min: number, max = Number.MAX_VALUE) => z.coerce.number().min(min).max(max);

/** true/false, 1/0 or yes/no. */
export const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v));

/** "a, b ,c" -> ["a", "b", "c"]: for comma-separated settings (GPU types, ports, data centers). */
export function splitList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length ? items : undefined;
}
