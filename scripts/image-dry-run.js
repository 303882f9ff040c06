#!/usr/bin/env node
// The Dockerfile's run stage without a Docker engine (`npm run image:dry-run`, run by .ci/run).
//
// Reads the Dockerfile with dockerfile-ast and performs its last stage in a temporary directory
// that stands for the image's root: WORKDIR and ENV as written, every COPY as written (from the
// build context, or `--from=<stage>` out of that stage's WORKDIR, which the build stage fills with
// the repository's own paths, so dist/ here is its output: run `npm run build` first), and of each
// RUN the `npm ci` commands (with --prefer-offline; the rest, such as ln/chown, only concern the
// image and are listed as skipped). Then it checks that the result has no dev dependency and no
// TypeScript source or test, and starts ENTRYPOINT + CMD + `--cycles 1` on DATABASE_URL=memory://
// from the last WORKDIR, with IMAGE_DRY_RUN_NODE (else this node) as `node`.
//
// So a runtime dependency listed under devDependencies, or a file the image forgets to COPY, fails
// here. Prints the production node_modules size and the start-up time; exits non-zero on failure.
// KEEP_DRY_RUN=1 keeps the directory.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { DockerfileParser } = require('dockerfile-ast');

const repo = path.join(__dirname, '..');
const node = process.env.IMAGE_DRY_RUN_NODE || process.execPath;

/** The temporary directory standing for the image's root (removed at the end unless KEEP_DRY_RUN). */
let root;

function fail(message) {
  process.stderr.write(`image dry-run: ${message}\n`);
  if (root && process.env.KEEP_DRY_RUN) process.stderr.write(`image dry-run: kept ${root}\n`);
  else if (root) fs.rmSync(root, { recursive: true, force: true });
  process.exit(1);
}

/** The Dockerfile's stages: { name, from, instructions } in order. */
function stages(file) {
  const dockerfile = DockerfileParser.parse(fs.readFileSync(file, 'utf8'));
  const out = [];
  for (const ins of dockerfile.getInstructions()) {
    if (ins.getKeyword() === 'FROM') {
      const args = ins.getArguments().map((a) => a.getValue());
      const as = args.findIndex((a) => a.toUpperCase() === 'AS');
      out.push({ name: as >= 0 ? args[as + 1] : String(out.length), from: args[0], instructions: [] });
    } else if (out.length > 0) {
      out[out.length - 1].instructions.push(ins);
    }
  }
  return out;
}

/** The WORKDIR a stage ends in (the build stage's /app is where the repository's paths go). */
function finalWorkdir(stage) {
  let dir = '/';
  for (const ins of stage.instructions) {
    if (ins.getKeyword() === 'WORKDIR') dir = path.posix.resolve(dir, ins.getArguments()[0].getValue());
  }
  return dir;
}

/** .dockerignore's patterns (a plain prefix/glob subset: enough to tell whether a COPY source is excluded). */
function dockerignore() {
  const file = path.join(repo, '.dockerignore');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('!'))
    .map((p) => {
      const re = p
        .replace(/^\/+|\/+$/g, '')
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\/?/g, '@@GLOBSTAR@@')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')
        .replace(/@@GLOBSTAR@@/g, '(.*/)?');
      return { pattern: p, re: new RegExp(`^${re}(/.*)?$`) };
    });
}

function sizeOf(dir) {
  let bytes = 0;
  let files = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        bytes += fs.statSync(p).size;
        files += 1;
      }
    }
  };
  walk(dir);
  return { bytes, files };
}

function main() {
  const all = stages(path.join(repo, 'Dockerfile'));
  if (all.length < 2) fail(`expected a build stage and a run stage, found ${all.length} stage(s)`);
  const run = all[all.length - 1];
  const ignored = dockerignore();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-image-'));
  const host = (imagePath) => path.join(root, imagePath);
  let workdir = '/';
  const env = {};
  let entrypoint = [];
  let cmd = [];
  const skipped = [];
  let installMs = 0;
  let ci = 0;
  console.log(`image dry-run: stage "${run.name}" (FROM ${run.from}) in ${root}`);

  for (const ins of run.instructions) {
    const kw = ins.getKeyword();
    if (kw === 'WORKDIR') {
      workdir = path.posix.resolve(workdir, ins.getArguments()[0].getValue());
      fs.mkdirSync(host(workdir), { recursive: true });
    } else if (kw === 'ENV') {
      for (const p of ins.getProperties()) env[p.getName()] = p.getValue() ?? '';
    } else if (kw === 'COPY' || kw === 'ADD') {
      const from = ins.getFlags().find((f) => f.getName() === 'from');
      const json = ins.getJSONStrings().map((a) => a.getJSONValue());
      const args = json.length > 0 ? json : ins.getArguments().map((a) => a.getValue());
      const dest = path.posix.resolve(workdir, args[args.length - 1]);
      const sources = args.slice(0, -1);
      for (const src of sources) {
        let origin;
        if (from) {
          const stage = all.find((s) => s.name === from.getValue());
          if (!stage) fail(`COPY --from=${from.getValue()}: no such stage`);
          const rel = path.posix.relative(finalWorkdir(stage), src);
          if (rel.startsWith('..')) fail(`COPY --from=${stage.name} ${src}: outside the stage's WORKDIR`);
          origin = path.join(repo, rel);
        } else {
          const rel = path.posix.normalize(src).replace(/^\.?\/+/, '');
          const hit = ignored.find((i) => i.re.test(rel));
          if (hit) fail(`COPY ${src}: .dockerignore excludes it (${hit.pattern})`);
          origin = path.join(repo, rel);
        }
        if (!fs.existsSync(origin)) {
          fail(`COPY ${from ? `--from=${from.getValue()} ` : ''}${src}: ${origin} does not exist (run npm run build?)`);
        }
        const into = sources.length > 1 || args[args.length - 1].endsWith('/');
        const target = host(into ? path.posix.join(dest, path.posix.basename(src)) : dest);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.cpSync(origin, target, { recursive: true });
      }
    } else if (kw === 'RUN') {
      for (const part of (ins.getArgumentsContent() ?? '').split('&&').map((s) => s.trim())) {
        const words = part.split(/\s+/);
        if (words[0] === 'npm' && words[1] === 'ci') {
          if (!words.includes('--omit=dev')) fail(`RUN ${part}: the run stage installs dev dependencies`);
          const started = Date.now();
          const r = spawnSync('npm', [...words.slice(1), '--prefer-offline'], {
            cwd: host(workdir),
            stdio: 'inherit',
            env: { ...process.env, ...env },
          });
          installMs += Date.now() - started;
          if (r.status !== 0) fail(`RUN ${part}: exit ${r.status}`);
          ci += 1;
        } else {
          skipped.push(part);
        }
      }
    } else if (kw === 'ENTRYPOINT') {
      entrypoint = ins.getJSONStrings().map((a) => a.getJSONValue());
    } else if (kw === 'CMD') {
      cmd = ins.getJSONStrings().map((a) => a.getJSONValue());
    }
  }
  if (ci === 0) fail('the run stage has no `npm ci`');
  if (entrypoint.length === 0) fail('the run stage has no exec-form ENTRYPOINT');
  for (const s of skipped) console.log(`image dry-run: skipped (image only): ${s}`);

  // What the image must not carry.
  const app = host(entrypoint.find((a) => a.startsWith('/'))?.split('/')[1] ?? 'app');
  const stray = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.name === 'node_modules') continue;
      if (e.isDirectory()) {
        if (e.name === 'test') stray.push(p);
        else walk(p);
      } else if (/\.ts$/.test(e.name) && !/\.d\.ts$/.test(e.name)) stray.push(p);
    }
  };
  walk(app);
  if (stray.length > 0)
    fail(`the image carries sources or tests: ${stray.map((p) => path.relative(root, p)).join(', ')}`);
  const nm = path.join(app, 'node_modules');
  // Packages the lockfile marks dev-only (typescript, jest, ...); a production dependency's own
  // dependencies (such as the Kubernetes client's @types/node) stay.
  const lock = JSON.parse(fs.readFileSync(path.join(app, 'package-lock.json'), 'utf8'));
  const present = Object.entries(lock.packages ?? {})
    .filter(([p, meta]) => p.startsWith('node_modules/') && meta.dev === true)
    .map(([p]) => p)
    .filter((p) => fs.existsSync(path.join(app, p)));
  if (present.length > 0) fail(`dev-only packages in the production node_modules: ${present.slice(0, 10).join(', ')}`);
  if (fs.existsSync(path.join(nm, 'typescript'))) fail('the production node_modules has the TypeScript compiler');
  const size = sizeOf(nm);

  // Start the service as the image would, with the process's own working directory.
  const argv = [...entrypoint, ...cmd, '--cycles', '1'].map((a, i) =>
    i === 0 && a === 'node' ? node : a.startsWith('/') && fs.existsSync(host(a)) ? host(a) : a,
  );
  const started = Date.now();
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd: host(workdir),
    env: { PATH: process.env.PATH, HOME: root, ...env, DATABASE_URL: 'memory://' },
    encoding: 'utf8',
    timeout: 120000,
  });
  const startMs = Date.now() - started;
  const version = spawnSync(argv[0], ['-v'], { encoding: 'utf8' }).stdout.trim();
  if (r.status !== 0) {
    process.stdout.write(r.stdout ?? '');
    process.stderr.write(r.stderr ?? '');
    fail(`\`${[...entrypoint, ...cmd].join(' ')} --cycles 1\` exited ${r.status ?? r.signal} (node ${version})`);
  }
  if (!/decision|desired/i.test(r.stdout)) {
    process.stdout.write(r.stdout);
    fail('the service exited 0 without reporting a cycle');
  }

  console.log(
    `image dry-run: ok (node ${version}): production node_modules ${(size.bytes / 1048576).toFixed(1)} MB in ` +
      `${size.files} files (npm ci ${(installMs / 1000).toFixed(1)} s); ` +
      `\`${[...entrypoint, ...cmd].join(' ')} --cycles 1\` on memory:// took ${(startMs / 1000).toFixed(1)} s`,
  );
  if (process.env.KEEP_DRY_RUN) console.log(`image dry-run: kept ${root}`);
  else fs.rmSync(root, { recursive: true, force: true });
}

main();
