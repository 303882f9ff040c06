import fs from 'node:fs';
import path from 'node:path';
import { ConfigSchema, loadConfig } from '../src/config';
import { allPages, parseMarkdown } from './helpers/docs';

// The documentation's facts that the code defines: every setting and its default
// (docs/configuration.md, the one place the settings tables live) and the layout of src/
// (docs/architecture.md). Links and runnable commands: test/docs-links.test.ts, test/docs-commands.test.ts.

const root = path.join(__dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

/** A page without its fenced code blocks (an example table in one is not documentation of a setting). */
const prose = (file: string) =>
  parseMarkdown(read(file))
    .prose.map((l) => l.text)
    .join('\n');

/** The section of `file` under `## title`, up to the next `## `. */
function section(file: string, title: string): string {
  const text = read(file);
  const start = text.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`${file} has no section "${title}"`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

/** Rows of every markdown table whose second column is "default": [setting, default cell]. */
function settingsTables(text: string): [string, string][] {
  const rows: [string, string][] = [];
  let inTable = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    if (/^(variable|setting)$/.test(cells[0]) && cells[1] === 'default') {
      inTable = true;
      continue;
    }
    if (!inTable || /^-+$/.test(cells[0])) continue;
    const name = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[0]);
    if (!name) throw new Error(`a settings table row names one setting in backticks: ${line}`);
    rows.push([name[1], cells[1]]);
  }
  return rows;
}

describe('docs/configuration.md', () => {
  const documented = settingsTables(prose('docs/configuration.md'));
  const keys = Object.keys(ConfigSchema.shape);

  test('its configuration tables list every setting of the schema, once, and nothing else', () => {
    const names = documented.map(([n]) => n);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    expect(keys.filter((k) => !names.includes(k))).toEqual([]);
    expect(names.filter((n) => !keys.includes(n))).toEqual([]);
  });

  test("each setting's default there is the schema's default", () => {
    const defaults: Record<string, unknown> = loadConfig({});
    const wrong = documented.flatMap(([name, cell]) => {
      const text = cell.replace(/`/g, '');
      const value = defaults[name];
      const ok = value === undefined ? /^(unset|required|-)/.test(text) : text.split(/[ ,(]/)[0] === String(value);
      return ok ? [] : [`${name}: docs/configuration.md says "${cell}", the schema ${JSON.stringify(value)}`];
    });
    expect(wrong).toEqual([]);
  });

  test('no other page has a settings table (one definition of each setting)', () => {
    const pages = allPages().filter((f) => f !== 'docs/configuration.md');
    expect(pages.filter((f) => settingsTables(prose(f)).length > 0)).toEqual([]);
  });
});

describe('docs/architecture.md', () => {
  test('its layout lists every folder of src/', () => {
    const layout = section('docs/architecture.md', 'Layout');
    const folders = fs
      .readdirSync(path.join(root, 'src'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => `src/${d.name}/`);
    expect(folders.filter((f) => !new RegExp(`^${f}\\s`, 'm').test(layout))).toEqual([]);
  });
});
