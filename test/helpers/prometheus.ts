/** A scrape parsed: each metric family's type, and each sample's value by name and labels. */
export interface Scrape {
  types: Map<string, string>;
  samples: { name: string; labels: Record<string, string>; value: number }[];
  /** The value of the one sample of `name` whose labels include `labels`; throws when there is none. */
  value(name: string, labels?: Record<string, string>): number;
  has(name: string, labels?: Record<string, string>): boolean;
}

/** Parses the Prometheus text format (what prom-client writes: no timestamps, no escapes beyond \\"). */
export function parseScrape(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Scrape['samples'] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  const find = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    types,
    samples,
    value(name, labels) {
      const found = find(name, labels);
      if (found.length !== 1)
        throw new Error(`${found.length} samples of ${name}${JSON.stringify(labels ?? {})}; the scrape has:\n${text}`);
      return found[0].value;
    },
    has: (name, labels) => find(name, labels).length > 0,
  };
}
