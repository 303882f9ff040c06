import fs from 'node:fs';
import path from 'node:path';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { parseDatabaseUrl } from '../../src/store/open';
import { NODE_MAX_OLD_SPACE_MB } from '../../src/util/node-flags';
import { packageRoot } from '../../src/util/package-root';

// The Dockerfile, read with dockerfile-ast (no Docker engine here): a build stage and a run stage
// on the same current Node LTS image, the run stage with production dependencies and compiled
// output only, a non-root user, the CLI as ENTRYPOINT and `start` as CMD, the store's directory a
// volume, OCI labels agreeing with package.json. `npm run image:dry-run` performs the run stage.

const root = packageRoot();
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
  engines: { node: string };
};
const dockerfile = DockerfileParser.parse(fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8'));

interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}
const stages: Stage[] = [];
for (const ins of dockerfile.getInstructions()) {
  if (ins.getKeyword() === 'FROM') {
    const args = ins.getArguments().map((a) => a.getValue());
    stages.push({ image: args[0], name: args[2], instructions: [] });
  } else {
    stages.at(-1)?.instructions.push(ins);
  }
}
const build = stages[0];
const run = stages[stages.length - 1];

const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
const words = (i: Instruction) => i.getArguments().map((a) => a.getValue());
/** An exec-form instruction's JSON strings (ENTRYPOINT, CMD, VOLUME). */
const json = (i: Instruction) =>
  (i as unknown as { getJSONStrings(): { getJSONValue(): string }[] }).getJSONStrings().map((a) => a.getJSONValue());
const flags = (i: Instruction) =>
  (i as unknown as { getFlags(): { getName(): string; getValue(): string | null }[] })
    .getFlags()
    .map((f) => `${f.getName()}=${f.getValue()}`);
const runs = (stage: Stage) => of(stage, 'RUN').map((i) => i.getArgumentsContent() ?? '');

test('two stages on the same current LTS slim image, the build stage named', () => {
  expect(stages.map((s) => s.image)).toEqual(['node:24-bookworm-slim', 'node:24-bookworm-slim']);
  expect(build.name).toBe('build');
  // The image's Node major is one engines allows.
  expect(pkg.engines.node.split('||').map((r) => r.trim().match(/^\^(\d+)\./)?.[1])).toContain('24');
});

test('the build stage installs all dependencies and compiles', () => {
  const cmds = runs(build);
  expect(cmds.some((c) => /^npm ci\b/.test(c) && !c.includes('--omit=dev'))).toBe(true);
  expect(cmds.some((c) => /\btsc -p tsconfig\.build\.json\b/.test(c))).toBe(true);
});

test('the run stage: production dependencies without scripts, compiled output, no compiler, sources or tests', () => {
  const cmds = runs(run);
  expect(cmds.filter((c) => /\bnpm ci\b/.test(c))).toHaveLength(1);
  const ci = cmds.find((c) => /\bnpm ci\b/.test(c)) ?? '';
  expect(ci).toContain('--omit=dev');
  expect(ci).toContain('--ignore-scripts'); // `prepare` would run tsc, which is not installed
  expect(cmds.join('\n')).not.toMatch(/\b(tsc|npm run build|npm install)\b/);

  const copies = of(run, 'COPY').map((i) => ({ from: flags(i), args: words(i) }));
  const fromBuild = copies.filter((c) => c.from.length > 0);
  expect(fromBuild.every((c) => c.from[0] === 'from=build' && c.args[0].startsWith('/app/dist/'))).toBe(true);
  const fromContext = copies
    .filter((c) => c.from.length === 0)
    .flatMap((c) => c.args.slice(0, -1))
    .sort();
  expect(fromContext).toEqual(['bin', 'migrations', 'package-lock.json', 'package.json']);
  // bin/gpu-scaler.js requires ../dist/src/cli/main.js: the compiled sources are there.
  expect(fromBuild.map((c) => c.args[1])).toContain('./dist/src');
});

test('runs as a non-root user, the CLI as ENTRYPOINT (exec form) and `start` as CMD', () => {
  const users = of(run, 'USER').map((i) => words(i)[0]);
  expect(users.length).toBeGreaterThan(0);
  const user = users[users.length - 1];
  expect(user.split(':')[0]).not.toMatch(/^(root|0)$/);
  expect(user).toMatch(/^\d+:\d+$/); // numeric, so Kubernetes' runAsNonRoot can check it
  const [entrypoint] = of(run, 'ENTRYPOINT');
  expect(json(entrypoint)).toEqual(['node', `--max-old-space-size=${NODE_MAX_OLD_SPACE_MB}`, '/app/bin/gpu-scaler.js']);
  expect(of(run, 'CMD').map(json)).toEqual([['start']]);
  expect(of(run, 'STOPSIGNAL').map((i) => words(i)[0])).toEqual(['SIGTERM']);
});

test("the embedded store's default directory is under a declared volume the user owns", () => {
  const workdirs = of(run, 'WORKDIR').map((i) => words(i)[0]);
  const workdir = workdirs[workdirs.length - 1];
  const volumes = of(run, 'VOLUME').flatMap(json);
  expect(volumes).toContain(workdir);
  const target = parseDatabaseUrl(undefined, workdir);
  expect(target.kind === 'pglite' && target.dataDir.startsWith(`${workdir}/`)).toBe(true);
  expect(runs(run).join('\n')).toContain(`chown ${of(run, 'USER').map((i) => words(i)[0])[0]} ${workdir}`);
});

test('OCI labels: source, version and licence agree with package.json', () => {
  const labels = Object.fromEntries(
    of(run, 'LABEL').flatMap((i) =>
      (i as unknown as { getProperties(): { getName(): string; getValue(): string | null }[] })
        .getProperties()
        .map((p) => [p.getName(), p.getValue()]),
    ),
  );
  expect(labels['org.opencontainers.image.source']).toMatch(/^https:\/\//);
  expect(labels['org.opencontainers.image.licenses']).toBe(pkg.license);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's build argument, literally
  expect(labels['org.opencontainers.image.version']).toBe('${VERSION}');
  const arg = of(run, 'ARG')
    .map((i) => words(i)[0])
    .find((a) => a.startsWith('VERSION='));
  expect(arg).toBe(`VERSION=${pkg.version}`);
});

test('.dockerignore keeps node_modules, data directories, logs and tests out of the context', () => {
  const ignored = fs
    .readFileSync(path.join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const p of ['node_modules', 'dist', '.gpu-scaler', '*.log', 'test', '.git']) expect(ignored).toContain(p);
  // ... and nothing the COPY lines need.
  const needed = stages.flatMap((s) =>
    of(s, 'COPY')
      .filter((i) => flags(i).length === 0)
      .flatMap((i) => words(i).slice(0, -1)),
  );
  expect(needed.filter((n) => ignored.includes(n))).toEqual([]);
});
