import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { type CliIo, withEnvFile } from '../../src/cli/context';
import { main } from '../../src/cli/main';
import { loadConfig } from '../../src/config';
import { packageRoot } from '../../src/util/package-root';
import { Capture } from '../helpers/harness';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-scaler-env-file-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const run = async (args: string[], env: Record<string, string | undefined> = {}) => {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIo = { stdout, stderr, stdin: Readable.from([]), env, isTTY: false };
  const code = await main(['node', 'gpu-scaler', ...args], io);
  return { code, stdout: stdout.text, stderr: stderr.text };
};

describe('--env-file and GPU_SCALER_ENV_FILE', () => {
  const file = path.join(dir, 'bad-url.env');
  fs.writeFileSync(file, '# a comment\nexport DATABASE_URL=nonsense://here   # where the store is\n');

  test('the file is read, before or after the command, or named by GPU_SCALER_ENV_FILE', async () => {
    for (const [args, env] of [
      [['--env-file', file, 'status'], {}],
      [['status', '--env-file', file], {}],
      [['status', `--env-file=${file}`], {}],
      [['status'], { GPU_SCALER_ENV_FILE: file }],
    ] as const) {
      const r = await run([...args], { ...env });
      expect(r.stderr).toContain('DATABASE_URL "nonsense://here" is not understood');
      expect(r.code).toBe(1);
    }
  });

  test('a variable set in the environment wins over the file', () => {
    expect(withEnvFile({ DATABASE_URL: 'memory://' }, file).DATABASE_URL).toBe('memory://');
    expect(withEnvFile({}, file).DATABASE_URL).toBe('nonsense://here');
  });

  test('a file that cannot be read is a usage error naming it', async () => {
    const r = await run(['status', '--env-file', path.join(dir, 'missing.env')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--env-file ${path.join(dir, 'missing.env')}: cannot read it (ENOENT)`);
    expect((await run(['status', '--env-file'])).code).toBe(2);
  });
});

describe("the docs' settings blocks work when pasted", () => {
  const pages = [
    'docs/task-sources.md',
    'docs/providers/runpod.md',
    'docs/providers/kubernetes.md',
    'docs/providers/local.md',
  ];
  const text = pages.map((p) => fs.readFileSync(path.join(packageRoot(), p), 'utf8')).join('\n');
  const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);

  test.each([
    [
      'RunPod',
      'PROVIDER=runpod',
      { PROVIDER: 'runpod', RUNPOD_GPU_TYPE_IDS: 'NVIDIA GeForce RTX 4090,NVIDIA RTX A6000' },
    ],
    ['Kubernetes', 'PROVIDER=kubernetes', { PROVIDER: 'kubernetes', K8S_NAMESPACE: 'gpu-scaler' }],
    ['the HTTP source', 'TASK_SOURCE=http', { TASK_SOURCE: 'http', TASK_COUNT_BODY: '{"run_type":"gpu"}' }],
    ['the SQL source', 'TASK_SOURCE=sql', { TASK_SOURCE: 'sql' }],
    ['local processes', 'PROVIDER=local', { PROVIDER: 'local', WORKER_COMMAND: 'python worker.py' }],
  ])('%s: the block, run by a shell, writes a file that --env-file reads', (_name, marker, expected) => {
    const block = blocks.find((b) => b.includes(`\n${marker}\n`));
    expect(block).toBeDefined();
    // the block writes the file with a heredoc, then names it with --env-file: run the heredoc part
    const heredoc = /^(cat > (\S+) <<'EOF'\n[\s\S]*?\nEOF\n)/m.exec(block as string);
    expect(heredoc).not.toBeNull();
    const [, script, name] = heredoc as RegExpExecArray;
    execFileSync('bash', ['-c', script], { cwd: dir });
    expect(block).toContain(`--env-file ${name}`);
    const env = withEnvFile({}, path.join(dir, name));
    expect(env).toMatchObject(expected);
    // no value keeps a shell comment or quotes
    for (const [k, v] of Object.entries(env)) expect([k, v]).not.toEqual([k, expect.stringMatching(/(^["'])|\s#/)]);
    if (marker === 'TASK_SOURCE=http')
      expect(
        loadConfig({
          ...env,
          TASK_COUNT_URL: 'https://example.test/counts',
          TASK_COUNT_KEY: 'q3Jv8xT1mZ6pR2wK9sL4nB7cY0dF5gHa',
        }).TASK_SOURCE,
      ).toBe('http');
  });
});
