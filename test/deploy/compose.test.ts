import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import yaml from 'js-yaml';
import { READER_ROLE, WRITER_ROLE } from '../../src/store/roles';
import { packageRoot } from '../../src/util/package-root';

// docker-compose.yml, read (no Docker engine here): the image built from the Dockerfile, run with
// no install at start-up, against postgres:17 in the least-privilege layout, with a health check
// on the service's own endpoint. The health check's command is run against a local server.

interface Service {
  image?: string;
  build?: string;
  command?: string[] | string;
  entrypoint?: unknown;
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  ports?: string[];
}

const root = packageRoot();
const raw = fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
const exampleEnv = fs.readFileSync(path.join(root, 'deploy/compose.env.example'), 'utf8');

/** The variables of an env file (KEY=value lines). */
const envOf = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split('\n')
      .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR:?error} (which fails when VAR is unset or empty). */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(
    /\$\{([A-Z_][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}/g,
    (_m, name: string, op?: string, arg?: string) => {
      const value = env[name];
      if (value) return value;
      if (op === ':?') throw new Error(`required variable ${name} is missing a value: ${arg}`);
      return op === ':-' ? (arg ?? '') : '';
    },
  );
}

const compose = yaml.load(interpolate(raw, envOf(exampleEnv))) as {
  services: Record<string, Service>;
};
const { db, migrate, 'gpu-scaler': service } = compose.services;
const init = fs.readFileSync(path.join(root, 'deploy/postgres-init/01-gpu-scaler-logins.sh'), 'utf8');
const user = (url: string | undefined) => new URL(String(url)).username;

test('the database is postgres:17; the others are the image built from the Dockerfile, installing nothing at start', () => {
  expect(db.image).toBe('postgres:17');
  for (const s of [migrate, service]) {
    expect(s.build).toBe('.');
    expect(s.image).toBe('gpu-scaler');
    expect(s.entrypoint).toBeUndefined(); // the image's: the CLI
    expect(JSON.stringify(s.command ?? [])).not.toMatch(/npm|npx|tsc/);
    expect((s.volumes ?? []).filter((v) => v.startsWith('.'))).toEqual([]); // no source tree mounted
  }
  expect(migrate.command).toEqual(['migrate']);
  expect(service.command).toBeUndefined(); // the image's CMD: start
});

test('migrations run as the owner, the service as a writer login, `sql` as a reader login', () => {
  const env = db.environment ?? {};
  expect(user(migrate.environment?.MIGRATE_DATABASE_URL)).toBe(env.POSTGRES_USER);
  const writer = user(service.environment?.DATABASE_URL);
  const reader = user(service.environment?.READ_DATABASE_URL);
  expect(init).toContain(`CREATE ROLE ${writer} LOGIN PASSWORD :'writer_password' IN ROLE ${WRITER_ROLE};`);
  expect(init).toContain(`CREATE ROLE ${reader} LOGIN PASSWORD :'reader_password' IN ROLE ${READER_ROLE};`);
  expect(new URL(String(service.environment?.DATABASE_URL)).password).toBe(env.GPU_SCALER_WRITER_PASSWORD);
  expect(new URL(String(service.environment?.READ_DATABASE_URL)).password).toBe(env.GPU_SCALER_READER_PASSWORD);
  expect(service.volumes).toContain('state:/var/lib/gpu-scaler'); // the Dockerfile's VOLUME
});

test('docker stop waits longer than the service takes to stop after SIGTERM (10 s at most)', () => {
  expect(Number.parseInt(String(service.stop_grace_period), 10)).toBeGreaterThan(10);
});

test('the image has the name deploy/kubernetes uses for it', () => {
  const deployment = fs.readFileSync(path.join(root, 'deploy/kubernetes/deployment.yaml'), 'utf8');
  const kustomization = yaml.load(fs.readFileSync(path.join(root, 'deploy/kubernetes/kustomization.yaml'), 'utf8')) as {
    images: { name: string }[];
  };
  const images = [...deployment.matchAll(/^\s+image:\s*(\S+)\s*$/gm)].map((m) => m[1]);
  expect(images.length).toBeGreaterThan(0);
  expect(new Set(images)).toEqual(new Set([service.image]));
  expect(kustomization.images.map((i) => i.name)).toEqual([service.image]);
});

describe("the health check's command", () => {
  const [kind, bin, flag, script] = service.healthcheck?.test ?? [];
  const port = Number(service.environment?.HTTP_PORT);

  /** Runs the check's script with its port pointed at `to`; resolves to its exit code. */
  const check = (to: number) =>
    new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [flag, script.replace(`:${port}/`, `:${to}/`)], { stdio: 'ignore' });
      child.on('error', reject);
      child.on('exit', (code) => resolve(code));
    });

  test('is node fetching GET /healthz on HTTP_PORT (exec form: the slim image has no shell tools)', () => {
    expect([kind, bin, flag]).toEqual(['CMD', 'node', '-e']);
    expect(port).toBe(9464);
    expect(script).toContain(`http://127.0.0.1:${port}/healthz`);
  });

  test('passes on 200, fails on 503 and when nothing listens', async () => {
    let status = 200;
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port: local } = server.address() as AddressInfo;
    try {
      expect(await check(local)).toBe(0);
      status = 503;
      expect(await check(local)).toBe(1);
      expect(seen).toEqual(['GET /healthz', 'GET /healthz']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await check(local)).toBe(1);
  });
});

describe('secrets and exposure', () => {
  const rawCompose = yaml.load(raw) as { services: Record<string, Service> };
  const secrets = ['POSTGRES_PASSWORD', 'GPU_SCALER_WRITER_PASSWORD', 'GPU_SCALER_READER_PASSWORD', 'HTTP_TOKEN'];

  test('no password or token is written in the file: each comes from .env, which deploy/compose.env.example documents', () => {
    const example = envOf(exampleEnv);
    for (const name of secrets) {
      expect([name, example[name]?.length ?? 0]).not.toEqual([name, 0]);
      expect(raw).toContain(`\${${name}:?`); // compose refuses to start without it
      expect(exampleEnv).toMatch(new RegExp(`# .*\\n${name}=`)); // said what it is
    }
    // every postgres:// URL takes its password from a variable
    const urls = [...raw.matchAll(/postgres(?:ql)?:\/\/([^:@\s]+):([^@\s]*)@/g)];
    expect(urls.length).toBeGreaterThanOrEqual(3);
    for (const [, , password] of urls) expect(password).toMatch(/^\$\{[A-Z_]+\}$/);
    expect(rawCompose.services.db.environment?.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/);
    expect(() => interpolate(raw, {})).toThrow(/required variable POSTGRES_PASSWORD/);
    // .env stays out of git and out of the image
    expect(fs.readFileSync(path.join(root, '.gitignore'), 'utf8').split('\n')).toContain('.env');
    expect(fs.readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n')).toContain('.env');
  });

  test('the database publishes no port: it is reached on the compose network only', () => {
    expect(db.ports).toBeUndefined();
    for (const url of [migrate.environment?.MIGRATE_DATABASE_URL, service.environment?.DATABASE_URL])
      expect(new URL(String(url)).host).toBe('db:5432');
  });

  test('the endpoint listens on every address of its container, behind a token, and its port is published', () => {
    const env = service.environment ?? {};
    expect(env.HTTP_HOST).toBe('0.0.0.0');
    expect(env.HTTP_TOKEN).toBe(envOf(exampleEnv).HTTP_TOKEN);
    expect(service.ports).toEqual([`127.0.0.1:${env.HTTP_PORT}:${env.HTTP_PORT}`]);
    const wide = yaml.load(interpolate(raw, { ...envOf(exampleEnv), GPU_SCALER_HTTP_PUBLISH: '0.0.0.0' })) as {
      services: Record<string, Service>;
    };
    expect(wide.services['gpu-scaler'].ports).toEqual([`0.0.0.0:${env.HTTP_PORT}:${env.HTTP_PORT}`]);
  });
});

test('the dashboard is published where the docs open it: the host port of the endpoint, with the token', () => {
  const env = service.environment ?? {};
  const [hostAddress, hostPort, containerPort] = String(service.ports?.[0]).split(':');
  expect(containerPort).toBe(env.HTTP_PORT);
  const url = `http://${hostAddress}:${hostPort}/?token=`;
  expect(raw).toContain(`open ${url}<HTTP_TOKEN>`);
  const operating = fs.readFileSync(path.join(root, 'docs/operating.md'), 'utf8');
  const block = /\n## Docker Compose\n[\s\S]*?```sh[^\n]*\n([\s\S]*?)```/.exec(operating)?.[1] ?? '';
  expect(block).toContain('docker compose up -d --build');
  expect(block).toContain(`open "${url}$(grep ^HTTP_TOKEN= .env | cut -d= -f2-)"`);
});
