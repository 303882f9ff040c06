import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { TEST_DATABASE_URL } from './helpers/backends';
import { buildDist } from './helpers/build-dist';
import { parseMarkdown, readDoc, root } from './helpers/docs';
import { waitFor } from './helpers/wait';

// The README's "Pools" walkthrough, run as written: its shell blocks, in order, by bash, from a
// working directory that has the clone's examples/ (`npm run runpod-standin` from the clone itself).
// `gpu-scaler` and `npx gpu-scaler` are the CLI built from this checkout; DATABASE_URL and the
// stand-in's `export` line are in the environment, as the README asks. Changed for speed only, in
// the environment (which overrides the file's top level): POLL_INTERVAL_SEC (2 s for the file's
// 10 s: a pool's want is fresh for the others for 3 cycles, and the first cycle, with its spawns,
// takes about a second) and
// WARM_IDLE_SEC (pool image lets an idle worker go after 2 s instead of 240 s); and HTTP_PORT=0 for
// the first replica (other tests may hold 9464).
//
// On a server (TEST_DATABASE_URL) the whole walkthrough: status and explain while the service
// runs, then a second replica and kill -9 of the one leading video. On PGlite (one process at a
// time, so no replicas) the first replica is stopped (Ctrl-C) before status and explain, and a
// stand-in for psql runs the README's inserts through the store.

const CAP = 6;
const WANT = { video: 4, image: 3 };
const GOT = { video: 4, image: 2 };
const SHARE = 'wanted 3 GPUs, got 2: GLOBAL_MAX_ACTIVE_GPUS=6 went first to video (priority 10, wanted 4)';

/** The README's "Pools" section's shell blocks, in order. */
function walkthrough(): string[] {
  const readme = readDoc('README.md');
  const start = readme.indexOf('\n## Pools\n');
  const end = readme.indexOf('\n## ', start + 1);
  if (start < 0) throw new Error('README.md has no "## Pools" section');
  return parseMarkdown(readme.slice(start, end))
    .fences.filter((f) => /^sh\b/.test(f.info))
    .map((f) => f.body);
}

interface Shell {
  child: ChildProcess;
  out: () => string;
}

/** A block run by bash in its own process group (so Ctrl-C and the cleanup reach what it starts). */
function shell(body: string, cwd: string, env: NodeJS.ProcessEnv): Shell {
  let out = '';
  const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', body], {
    cwd,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  return { child, out: () => out };
}

/** A block run to its end: its exit code and stdout, stderr. */
function runBlock(body: string, cwd: string, env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile('bash', ['-e', '-o', 'pipefail', '-c', body], { cwd, env, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });

const signalGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    /* gone already */
  }
};

function getText(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on('error', reject);
  });
}

interface StandinPod {
  id: string;
  name: string;
  image: string;
  status: string;
  gpu: { id: string; count: number } | null;
}

/** The pool a stand-in pod belongs to, by the image examples/pools.yaml gives each pool. */
const poolOf = (pod: StandinPod) => /acme\/(video|image)-worker/.exec(pod.image)?.[1] ?? 'unknown';

describe(`the README's pools walkthrough (${TEST_DATABASE_URL ? 'postgres' : 'pglite'})`, () => {
  const blocks = walkthrough();
  const dbName = `gs_readme_pools_${process.pid}_${Date.now().toString(36)}`;
  let tmp: string;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let admin: postgres.Sql | undefined;
  let sql: postgres.Sql | undefined;
  let standin: Shell;
  let standinUrl = '';
  let standinKey = '';
  const shells: Shell[] = [];

  test('the section has its five blocks: the stand-in, the service, status and explain, a replica, kill -9', () => {
    expect(blocks).toHaveLength(5);
    expect(blocks[0]).toMatch(/^npm run runpod-standin\b/);
    expect(blocks[1]).toMatch(/npx gpu-scaler start --config examples\/pools\.yaml/);
    expect(blocks[2]).toMatch(/gpu-scaler status/);
    expect(blocks[2]).toMatch(/gpu-scaler explain --pool image --cycle 1/);
    expect(blocks[3]).toMatch(/npx gpu-scaler start --config examples\/pools\.yaml/);
    expect(blocks[4]).toMatch(/kill -9/);
  });

  test("docs/pools.md's walkthrough runs the README's commands, no others", () => {
    const pools = readDoc('docs/pools.md');
    const from = pools.indexOf('\n## Try it: two pools on a RunPod stand-in\n');
    expect(from).toBeGreaterThan(0);
    const lines = (bodies: string[]) =>
      bodies
        .join('\n')
        .replace(/\\\n\s*/g, ' ')
        .split('\n')
        .map((l) =>
          l
            .replace(/\s+#.*$/, '')
            .replace(/\s+/g, ' ')
            .trim(),
        )
        .filter((l) => l !== '');
    const documented = lines(
      parseMarkdown(pools.slice(from, pools.indexOf('\n## ', from + 1)))
        .fences.filter((f) => f.info === 'sh')
        .map((f) => f.body),
    );
    expect(documented.length).toBeGreaterThan(5);
    expect(documented.filter((l) => !lines(blocks).includes(l))).toEqual([]);
  });

  beforeAll(async () => {
    buildDist(); // the CLI runs from dist/; `npm run runpod-standin` builds too, finding it up to date
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gs-readme-pools-'));
    work = path.join(tmp, 'work');
    fs.mkdirSync(work);
    fs.symlinkSync(path.join(root, 'examples'), path.join(work, 'examples'));
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    const cli = path.join(root, 'bin/gpu-scaler.js');
    fs.writeFileSync(
      path.join(bin, 'gpu-scaler'),
      `#!/bin/sh\nexec '${process.execPath}' --max-old-space-size=1024 '${cli}' "$@"\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(
      path.join(bin, 'npx'),
      '#!/bin/sh\nif [ "$1" = gpu-scaler ]; then shift; exec gpu-scaler "$@"; fi\n' +
        'echo "npx $1: the walkthrough only runs npx gpu-scaler" >&2; exit 127\n',
      { mode: 0o755 },
    );
    let databaseUrl: string;
    if (TEST_DATABASE_URL) {
      admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      await admin.unsafe(`create database ${dbName}`);
      const u = new URL(TEST_DATABASE_URL);
      u.pathname = `/${dbName}`;
      databaseUrl = u.toString();
      sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
    } else {
      databaseUrl = `pglite://${path.join(tmp, 'store')}`;
      // psql for the embedded store: each -c statement through the store (the README's inserts)
      const store = path.join(root, 'dist/src/store/index.js');
      const events = path.join(root, 'dist/events/index.js');
      fs.writeFileSync(
        path.join(bin, 'psql.js'),
        `const { openStore } = require(${JSON.stringify(store)});
const { appRegistry } = require(${JSON.stringify(events)});
(async () => {
  const [target, ...rest] = process.argv.slice(2);
  const statements = rest.filter((a, i) => rest[i - 1] === '-c');
  const s = await openStore({ target, registry: appRegistry, listen: false });
  try { for (const q of statements) { await s.db.query(q); console.log(q); } } finally { await s.close(); }
})().catch((e) => { console.error(String(e)); process.exit(1); });
`,
      );
      fs.writeFileSync(path.join(bin, 'psql'), `#!/bin/sh\nexec '${process.execPath}' '${bin}/psql.js' "$@"\n`, {
        mode: 0o755,
      });
    }
    env = {
      PATH: `${bin}:${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: process.env.HOME ?? tmp,
      LANG: 'C.UTF-8',
      DATABASE_URL: databaseUrl,
      HTTP_PORT: '0',
      POLL_INTERVAL_SEC: '2',
      WARM_IDLE_SEC: '2',
      ...(process.env.GPU_SCALER_PGLITE_TEMPLATE
        ? { GPU_SCALER_PGLITE_TEMPLATE: process.env.GPU_SCALER_PGLITE_TEMPLATE }
        : {}),
    };

    // the first terminal: the stand-in, from the clone; the export line it prints goes into the others
    standin = shell(blocks[0], root, env);
    shells.push(standin);
    const line = await waitFor(
      () => /^export (RUNPOD_API_URL=\S+) (RUNPOD_API_KEY=\S+)$/m.exec(standin.out()),
      'the stand-in to print its export line',
      120_000,
      { describe: () => standin.out().slice(-2000) },
    );
    for (const assignment of [line[1], line[2]]) {
      const [k, v] = [assignment.slice(0, assignment.indexOf('=')), assignment.slice(assignment.indexOf('=') + 1)];
      env[k] = v;
    }
    standinUrl = env.RUNPOD_API_URL ?? '';
    standinKey = env.RUNPOD_API_KEY ?? '';
  }, 180_000);

  afterAll(async () => {
    for (const s of shells) signalGroup(s.child, 'SIGKILL');
    await Promise.all(shells.map((s) => exited(s.child)));
    await sql?.end();
    await admin?.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin?.end();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** The stand-in's pods not terminated, by pool. */
  const livePods = async () => {
    const r = await getText(`${standinUrl}/pods`, { Authorization: `Bearer ${standinKey}` });
    const pods = (JSON.parse(r.text) as { pods: StandinPod[] }).pods;
    return pods.filter((p) => p.status !== 'TERMINATED');
  };
  const countByPool = (pods: StandinPod[]) => {
    const n: Record<string, number> = {};
    for (const p of pods) n[poolOf(p)] = (n[poolOf(p)] ?? 0) + 1;
    return n;
  };
  const settled = async () => {
    const n = countByPool(await livePods());
    return n.video === GOT.video && n.image === GOT.image && Object.keys(n).length === 2;
  };
  /** Each create the stand-in printed: the pod's name and how many pods held GPUs right after it (it also prints each pod terminated). */
  const creates = () =>
    [...standin.out().matchAll(/^created (\S+) (\S+): .*; pods holding GPUs now: (\d+)$/gm)].map((m) => ({
      id: m[1],
      name: m[2],
      holding: Number(m[3]),
    }));

  let first: Shell;

  test('both pools scale under the global cap; the higher priority gets its want; status, explain and the dashboard show both', async () => {
    // the second terminal: migrate, the tasks, the service
    first = shell(blocks[1], work, env);
    shells.push(first);
    await waitFor(settled, `video to hold ${GOT.video} pods and image ${GOT.image}`, 90_000, {
      describe: () => `${first.out().slice(-3000)}\n--- stand-in:\n${standin.out().slice(-1500)}`,
    });
    // each pool on its own GPU type and image
    for (const pod of await livePods()) {
      expect([poolOf(pod), pod.gpu?.id]).toEqual(
        poolOf(pod) === 'video' ? ['video', 'NVIDIA H100 80GB HBM3'] : ['image', 'NVIDIA GeForce RTX 4090'],
      );
    }
    // the global cap held at every create, counted by the stand-in itself
    expect(creates().length).toBeGreaterThanOrEqual(GOT.video + GOT.image);
    expect(creates().filter((c) => c.holding > CAP)).toEqual([]);
    // the pools' logs: each pool's count and decision, named
    expect(first.out()).toMatch(/\[video\] 🔢 TASK COUNT \(Cycle #\d+\): Queued=4, Active=0, Total=4/);
    expect(first.out()).toMatch(/\[image\] 🔢 TASK COUNT \(Cycle #\d+\): Queued=4, Active=0, Total=4/);

    // the dashboard: a pool selector, and both pools
    const port = Number(/HTTP endpoint on http:\/\/127\.0\.0\.1:(\d+)\//.exec(first.out())?.[1]);
    const page = await getText(`http://127.0.0.1:${port}/`);
    expect(page.text).toContain('<select id="pool"><option value="">all pools</option></select>');
    const pools = async () =>
      (
        JSON.parse((await getText(`http://127.0.0.1:${port}/api/state`)).text) as {
          pools: { pool: string; workers: number; byStatus: Record<string, number> }[];
        }
      ).pools.map((p) => `${p.pool} ${p.workers} ${p.byStatus.active ?? 0}`);
    await waitFor(
      async () =>
        JSON.stringify(await pools()) ===
        JSON.stringify([`image ${GOT.image} ${GOT.image}`, `video ${GOT.video} ${GOT.video}`]),
      "the dashboard's all-pools view to show both pools' workers, all active",
      20_000,
      { describe: () => first.out().slice(-1000) },
    );

    if (!TEST_DATABASE_URL) {
      // the embedded store is one process's: Ctrl-C the service before the next terminal's commands
      signalGroup(first.child, 'SIGINT');
      await exited(first.child);
      expect(first.out()).toContain('gpu-scaler stopped');
    }
    // the third terminal: status and explain
    const r = await runBlock(blocks[2], work, env);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toContain('Pools: image, video');
    for (const [pool, n, gpu] of [
      ['image', GOT.image, 'NVIDIA GeForce RTX 4090'],
      ['video', GOT.video, 'NVIDIA H100 80GB HBM3'],
    ] as const) {
      const part = r.stdout.split(`== Pool ${pool} ==`)[1]?.split('== Pool ')[0] ?? '';
      expect(part).toContain(`Fleet: active ${n} `);
      expect(part).toContain(gpu);
    }
    // why image got less, in the words the issue asks for
    expect(r.stdout).toContain(`GLOBAL_MAX_ACTIVE_GPUS=6 cut it from ${WANT.image} to ${GOT.image} (${SHARE})`);
  }, 240_000);

  (TEST_DATABASE_URL ? test : test.skip)(
    'a second replica takes a pool; kill -9 of the one leading video hands it over, no pod made twice',
    async () => {
      const db = sql as postgres.Sql;
      /** The pid of the live holder of a pool's lease (holder: host:pid:id), null when none. */
      const leader = async (pool: string) => {
        const [row] = await db`select holder from controller_lease
          where name = ${`controller@${pool}`} and holder is not null and expires_at > now()
            and exists (select 1 from pg_stat_activity a where a.pid = holder_pid)`;
        return row ? Number(String(row.holder).split(':')[1]) : null;
      };
      // the fourth terminal: a second replica
      const second = shell(blocks[3], work, env);
      shells.push(second);
      await waitFor(
        async () => {
          const [v, i] = [await leader('video'), await leader('image')];
          return v !== null && i !== null && v !== i;
        },
        'each replica to lead one pool',
        60_000,
        { describe: () => `${first.out().slice(-1500)}\n---\n${second.out().slice(-1500)}` },
      );
      expect(first.out()).toContain('🤝 Handing over the lead');
      const made = creates().length;
      const ended = () => [...standin.out().matchAll(/^terminated \S+ /gm)].length;
      const endedBefore = ended();
      const victim = await leader('video');

      // the third terminal: who leads what, and kill -9 of video's leader
      const killedAt = Date.now();
      const r = await runBlock(blocks[4], work, env);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(/controller@video \| \S+:\d+:/);
      const [dead, survivor] = await Promise.race([
        exited(first.child).then(() => [first, second]),
        exited(second.child).then(() => [second, first]),
      ]);
      expect(survivor.child.exitCode).toBeNull();
      expect(dead.out()).not.toContain('gpu-scaler stopped'); // killed, not stopped
      await waitFor(
        async () => {
          const v = await leader('video');
          return v !== null && v !== victim;
        },
        'the survivor to lead video',
        20_000,
      );
      const takeoverMs = Date.now() - killedAt;
      await waitFor(
        () => /\[video\] 👑 Leading: .*resuming after cycle #[1-9]\d*\n/.test(survivor.out()),
        'the survivor to say it leads video',
        20_000,
        { describe: () => survivor.out().slice(-2000) },
      );
      expect(takeoverMs).toBeLessThan(12_000); // two cycles of 2 s, with room for a loaded machine
      // a few cycles of the survivor leading both: the fleet as it was, no pod made again
      const cycleNow = () =>
        Math.max(
          0,
          ...[...survivor.out().matchAll(/\[video\] 🎯 SCALING DECISION \(Cycle #(\d+)\)/g)].map((m) => Number(m[1])),
        );
      const from = cycleNow();
      await waitFor(() => cycleNow() >= from + 3, 'three cycles of video on the survivor', 30_000);
      expect(await settled()).toBe(true);
      expect({ created: creates().length, terminated: ended() }).toEqual({ created: made, terminated: endedBefore });
      const names = creates().map((c) => c.name);
      expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
      expect(creates().filter((c) => c.holding > CAP)).toEqual([]);
      console.log(`README walkthrough: kill -9 of video's leader, led again after ${takeoverMs} ms`);

      signalGroup(survivor.child, 'SIGINT');
      await exited(survivor.child);
      expect(survivor.out()).toContain('gpu-scaler stopped');
    },
    240_000,
  );
});
