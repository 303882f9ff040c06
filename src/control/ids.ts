import { createHash } from 'node:crypto';

/** A UUID derived from a name: the same name always gives the same id (idempotent appends). */
export function deterministicId(name: string): string {
  const h = createHash('sha256').update(`gpu-scaler:${name}`).digest('hex');
  // format as a version-5-style UUID
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Short stable hash, for readable ids. */
export function shortHash(text: string, len = 6): string {
  return createHash('sha256').update(text).digest('hex').slice(0, len);
}
