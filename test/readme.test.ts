import fs from 'node:fs';
import path from 'node:path';
import { ConfigSchema, loadConfig } from '../src/config';

const root = path.join(__dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

/** The README's section under `## title`, up to the next `## `. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no section "${title}"`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
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

describe('README', () => {
  const documented = settingsTables(
    section('Configuration') + section('Policies') + section('Task sources and GPU providers'),
  );
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
      return ok ? [] : [`${name}: README says "${cell}", the schema ${JSON.stringify(value)}`];
    });
    expect(wrong).toEqual([]);
  });

  test('its layout lists every folder of src/', () => {
    const layout = section('Layout');
    const folders = fs
      .readdirSync(path.join(root, 'src'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => `src/${d.name}/`);
    expect(folders.filter((f) => !new RegExp(`^${f}\\s`, 'm').test(layout))).toEqual([]);
  });
});
