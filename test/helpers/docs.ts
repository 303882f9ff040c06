import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/util/package-root';

/** Reading the documentation (README.md, CONTRIBUTING.md, docs/) for the tests that keep it true. */

export const root = packageRoot();

export const readDoc = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8');

/** Every markdown file under docs/, relative to the repository's root, sorted. */
export function docsPages(dir = 'docs'): string[] {
  return fs
    .readdirSync(path.join(root, dir), { withFileTypes: true })
    .flatMap((d) =>
      d.isDirectory() ? docsPages(`${dir}/${d.name}`) : d.name.endsWith('.md') ? [`${dir}/${d.name}`] : [],
    )
    .sort();
}

/** Every page of the documentation: README.md, CONTRIBUTING.md, then docs/. */
export const allPages = (): string[] => ['README.md', 'CONTRIBUTING.md', ...docsPages()];

/** A fenced code block: its info string (`sh runnable`), its body, the line of its opening fence. */
export interface Fence {
  info: string;
  body: string;
  line: number;
}

/** The page split into its lines outside fenced code blocks (with line numbers) and its fences. */
export function parseMarkdown(text: string): { prose: { line: number; text: string }[]; fences: Fence[] } {
  const prose: { line: number; text: string }[] = [];
  const fences: Fence[] = [];
  let open: { marker: string; info: string; line: number; body: string[] } | null = null;
  text.split('\n').forEach((line, i) => {
    const m = /^\s*(`{3,}|~{3,})\s*(.*)$/.exec(line);
    if (open) {
      if (m && m[1][0] === open.marker[0] && m[1].length >= open.marker.length && m[2] === '') {
        fences.push({ info: open.info, body: open.body.join('\n'), line: open.line });
        open = null;
      } else open.body.push(line);
      return;
    }
    if (m) open = { marker: m[1], info: m[2].trim(), line: i + 1, body: [] };
    else prose.push({ line: i + 1, text: line });
  });
  return { prose, fences };
}

/** GitHub's anchor for a heading's text: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // a link: its text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a page has: its headings' slugs, numbered from -1 when one repeats. */
export function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const { text: line } of parseMarkdown(text).prose) {
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = slug(h[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** The relative link targets of a page (code blocks and inline code left out), with their lines. */
export function linksOf(text: string): { line: number; target: string }[] {
  return parseMarkdown(text).prose.flatMap(({ line, text: l }) =>
    [...l.replace(/`[^`]*`/g, '').matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
      .map((m) => m[1])
      .filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t))
      .map((target) => ({ line, target })),
  );
}
