/**
 * Tiny dotted JSON paths for task sources: `totals.queued_only`, `data.0.count`, `data[0].count`.
 * No wildcards, no filters: one path names one value.
 */

export type JsonPath = readonly (string | number)[];

/** Parses `a.b.0.c` or `a.b[0].c` into segments; throws on an empty or malformed path. */
export function parseJsonPath(path: string): JsonPath {
  const text = path.trim();
  if (text === '') throw new Error('a JSON path must not be empty');
  const out: (string | number)[] = [];
  for (const part of text.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m || (m[1] === '' && m[2] === '')) {
      throw new Error(
        `invalid JSON path "${path}": use dotted keys with optional indexes, like totals.queued or items[0].n`,
      );
    }
    if (m[1] !== '') out.push(/^\d+$/.test(m[1]) ? Number(m[1]) : m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

export function formatJsonPath(path: JsonPath): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

export type Lookup = { found: true; value: unknown } | { found: false; missingAt: string };

/**
 * Reads the value at `path`. A numeric segment indexes an array (or, on an object, the key of that
 * name). `missingAt` names the first segment that was not there.
 */
export function lookupJsonPath(root: unknown, path: JsonPath): Lookup {
  let cur: unknown = root;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    let next: unknown;
    let has = false;
    if (Array.isArray(cur) && typeof seg === 'number') {
      has = seg < cur.length;
      next = cur[seg];
    } else if (cur !== null && typeof cur === 'object' && !Array.isArray(cur)) {
      const key = String(seg);
      has = Object.hasOwn(cur, key);
      next = (cur as Record<string, unknown>)[key];
    }
    if (!has) return { found: false, missingAt: formatJsonPath(path.slice(0, i + 1)) };
    cur = next;
  }
  return { found: true, value: cur };
}
