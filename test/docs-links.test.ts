import fs from 'node:fs';
import path from 'node:path';
import { allPages, anchorsOf, docsPages, linksOf, readDoc, root, slug } from './helpers/docs';

// Every relative link of README.md, CONTRIBUTING.md and docs/ resolves: the file (or folder)
// exists, and a #anchor names a heading of the page it points at (GitHub's slugs). Every page of
// docs/ starts with whom it is for and is on the README's map, and the emergency stop is linked
// from the README's first screen.

const pages = allPages();
const read = readDoc;

/** What is wrong with one link of `from`, or null. */
function problem(from: string, target: string): string | null {
  const [file, anchor] = target.split('#', 2) as [string, string | undefined];
  const resolved = file === '' ? from : path.posix.normalize(path.posix.join(path.posix.dirname(from), file));
  if (resolved.startsWith('..')) return 'points outside the repository';
  if (!fs.existsSync(path.join(root, resolved))) {
    return `${resolved} does not exist`;
  }
  if (anchor === undefined) return null;
  if (!resolved.endsWith('.md')) return `#${anchor} on a file that is not markdown`;
  return anchorsOf(read(resolved)).has(anchor) ? null : `${resolved} has no heading with the anchor #${anchor}`;
}

describe('the slugs are the ones GitHub makes', () => {
  test.each([
    ['Production setup: least privilege', 'production-setup-least-privilege'],
    ['The store: `DATABASE_URL`', 'the-store-database_url'],
    ["`operators` (the operators' rule)", 'operators-the-operators-rule'],
    ["Try it on the demo's store", 'try-it-on-the-demos-store'],
    ['1. Install and test', '1-install-and-test'],
  ])('%s -> %s', (heading, expected) => {
    expect(slug(heading)).toBe(expected);
  });

  test('a repeated heading gets -1, -2', () => {
    expect([...anchorsOf('# A\n## Notes\n```sh\n# Notes\n```\n## Notes\n### Notes\n')]).toEqual([
      'a',
      'notes',
      'notes-1',
      'notes-2',
    ]);
  });
});

describe.each(pages)('%s', (page) => {
  test('every relative link resolves, #anchors included', () => {
    const text = read(page);
    const wrong = linksOf(text).flatMap(({ line, target }) => {
      const p = problem(page, target);
      return p ? [`${page}:${line}: (${target}) ${p}`] : [];
    });
    expect(wrong).toEqual([]);
  });
});

describe('the pages find their readers', () => {
  test.each(docsPages())('%s starts with whom it is for', (page) => {
    const first = read(page)
      .split('\n\n')
      .map((p) => p.trim())
      .find((p) => p && !p.startsWith('#'));
    expect(first).toMatch(/^For /);
  });

  test("every page of docs/ is on the README's map", () => {
    const linked = new Set(linksOf(read('README.md')).map(({ target }) => target.split('#')[0]));
    expect(docsPages().filter((p) => !linked.has(p))).toEqual([]);
  });

  test("the emergency stop is linked from the README's first screen", () => {
    const firstScreen = read('README.md').split('\n').slice(0, 40).join('\n');
    expect(firstScreen).toMatch(/\[[^\]]*emergency stop[^\]]*\]\(docs\/operating(-live)?\.md#(the-)?emergency-stop\)/i);
  });
});
