import fs from 'node:fs';
import path from 'node:path';
import type { CliIo } from '../src/cli/context';
import { buildProgram } from '../src/cli/main';

const io: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: {}, isTTY: false };

/** The command names the README's "The commands" table names in its first column. */
function readmeCommands(): Set<string> {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const section = readme.split('\n## The commands\n')[1]?.split('\n## ')[0] ?? '';
  const names = new Set<string>();
  for (const line of section.split('\n')) {
    const first = /^\| ([^|]+) \|/.exec(line)?.[1] ?? '';
    for (const m of first.matchAll(/`(?:gpu-scaler )?([a-z-]+)[^`]*`/g)) names.add(m[1]);
  }
  return names;
}

test("the README's commands table names every command the CLI has", () => {
  const cli = buildProgram(io)
    .commands.map((c) => c.name())
    .filter((n) => n !== 'help');
  const listed = readmeCommands();
  expect(cli.filter((n) => !listed.has(n))).toEqual([]);
  expect([...listed].filter((n) => !cli.includes(n))).toEqual([]);
});
