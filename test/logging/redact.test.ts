import { z } from 'zod';
import { secretsOf } from '../../src/config';
import { createLogging, redactSecrets } from '../../src/logging/index';
import { makeRedactor, redactBySchema, redactStrings, redactValue, unsafeSecretReason } from '../../src/logging/redact';
import { Capture } from '../helpers/harness';

describe('redactSecrets', () => {
  test('replaces every occurrence of every secret', () => {
    expect(redactSecrets('token=abc123 again abc123; key=zz-9', ['abc123', 'zz-9'])).toBe(
      'token=*** again ***; key=***',
    );
  });

  test('replaces the URL-encoded form of a secret too', () => {
    expect(redactSecrets('postgres://svc:p%40ss%2Fw0rd@db:5432/x', ['p@ss/w0rd'])).toBe('postgres://svc:***@db:5432/x');
  });

  test('replaces URL passwords without being told about them', () => {
    expect(redactSecrets('connect postgres://scaler:hunter2@db.internal:5432/gpu failed', [])).toBe(
      'connect postgres://scaler:***@db.internal:5432/gpu failed',
    );
    expect(redactSecrets('postgresql://u:p@ss@h/db and redis://:pw@cache:6379', [])).toBe(
      'postgresql://u:***@h/db and redis://:***@cache:6379',
    );
  });

  test('leaves URLs without a password and plain text alone; ignores empty secrets', () => {
    const text = 'postgres://scaler@db/gpu https://example.com/a:b@c is fine';
    expect(redactSecrets(text, ['', 'absent'])).toBe(text);
  });

  test('a secret containing another is replaced whole', () => {
    expect(redactSecrets('key=abcdef', ['abc', 'abcdef'])).toBe('key=***');
  });
});

describe('redactValue', () => {
  const redact = makeRedactor(['s3cr3t']);

  test('redacts nested strings without touching the caller objects', () => {
    const meta = { a: 's3cr3t', nested: { list: ['x s3cr3t', 1, true, null] }, err: new Error('bad s3cr3t') };
    const out = redactValue(meta, redact) as Record<string, unknown>;
    expect(out).toMatchObject({ a: '***', nested: { list: ['x ***', 1, true, null] } });
    expect(out.err).toMatchObject({ name: 'Error', message: 'bad ***' });
    expect(meta.a).toBe('s3cr3t');
    expect(meta.nested.list[0]).toBe('x s3cr3t');
  });

  test('cycles become "[Circular]", URLs are converted and redacted', () => {
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    expect(redactValue({ loop, url: new URL('postgres://u:s3cr3t@h/db') }, redact)).toEqual({
      loop: { name: 'loop', self: '[Circular]' },
      url: 'postgres://u:***@h/db',
    });
  });
});

describe('the one secret list', () => {
  test("secretsOf: each secret setting whole, a URL's password, a JSON object's values", () => {
    const secrets = secretsOf({
      DATABASE_URL: 'postgres://svc:p%40ss-word@db:5432/x',
      TASK_COUNT_KEY: 'key-123456',
      RUNPOD_WORKER_ENV: '{"HF_TOKEN":"hf-abcdef","N":"1","DEBUG":"true"}',
      POLL_INTERVAL_SEC: '30',
    });
    expect(secrets).toEqual(
      expect.arrayContaining([
        'postgres://svc:p%40ss-word@db:5432/x',
        'p%40ss-word',
        'p@ss-word',
        'key-123456',
        'hf-abcdef',
      ]),
    );
    // too short to redact everywhere on its own, and settings that are not secrets
    expect(secrets).not.toContain('1');
    expect(secrets).not.toContain('true');
    expect(secrets).not.toContain('30');
  });

  test('any Bearer token is redacted, configured or not', () => {
    expect(makeRedactor([])('Authorization: Bearer abc.DEF-123_x+/= next')).toBe('Authorization: Bearer *** next');
  });

  test('redactStrings keeps types and returns the same object when nothing changed', () => {
    const clean = { a: 1, b: ['x', { c: true }], d: null };
    expect(redactStrings(clean, makeRedactor(['zz-9']))).toBe(clean);
    const dirty = { a: 1, b: ['x zz-9', { c: 'zz-9' }] };
    expect(redactStrings(dirty, makeRedactor(['zz-9']))).toEqual({ a: 1, b: ['x ***', { c: '***' }] });
    expect(dirty.b[0]).toBe('x zz-9');
  });
});

describe('redaction never changes the structure', () => {
  test('redactStrings redacts values, never keys', () => {
    expect(redactStrings({ cycle: 'cycle 3', workers: ['workers'] }, makeRedactor(['cycle', 'workers']))).toEqual({
      cycle: '*** 3',
      workers: ['***'],
    });
  });

  test('redactBySchema: free text only; times, uuids, enums, numbers and keys stay, bounds hold', () => {
    const schema = z.object({
      at: z.string().datetime({ offset: true }),
      id: z.uuid(),
      kind: z.enum(['idle', 'lost']),
      n: z.number(),
      text: z.string(),
      short: z.string().max(12),
      details: z.record(z.string(), z.unknown()),
      list: z.array(z.object({ name: z.string().nullable() })).nullable(),
      either: z.union([z.number(), z.string()]),
    });
    const data = {
      at: '2026-12-05T10:00:00.000Z',
      id: '20260000-0000-4000-8000-000000002026',
      kind: 'idle',
      n: 2026,
      text: 'in 2026, idle',
      short: 'u:p@h 2026 x',
      details: { idle: { why: 'idle 2026' } },
      list: [{ name: 'idle' }, { name: null }],
      either: 'idle',
    };
    const out = redactBySchema(schema, data, makeRedactor(['2026', 'idle']));
    expect(out).toEqual({
      ...data,
      text: 'in ***, ***',
      short: 'u:p@h *** x',
      details: { idle: { why: '*** ***' } },
      list: [{ name: '***' }, { name: null }],
      either: '***',
    });
    expect(schema.safeParse(out).success).toBe(true);
    // a password shorter than *** lengthens a text: it is kept within its maximum
    const bounded = redactBySchema(z.object({ raw: z.string().max(14) }), { raw: 'x://u:p@host12' }, makeRedactor([]));
    expect(bounded).toEqual({ raw: 'x://u:***@host' });
    expect(redactBySchema(schema, data, makeRedactor(['absent-secret']))).toBe(data);
  });

  test("the logger's own timestamp is never redacted; the message and metadata values are, keys never", async () => {
    const stdout = new Capture();
    const logging = await createLogging(
      {
        secrets: ['2026', 'cycle'],
        stdout,
        stderr: new Capture(),
        logFile: null,
        dbLogging: false,
        format: 'json',
        now: () => new Date('2026-12-05T10:20:30.000Z'),
      },
      null,
    );
    logging.logger.info('started in 2026', { cycle: 'cycle 2026' });
    await logging.close();
    const line = JSON.parse(stdout.lines()[0]);
    expect(line).toMatchObject({ timestamp: '2026-12-05T10:20:30.000Z', message: 'started in ***', cycle: '*** ***' });
  });
});

describe('a secret that cannot be redacted safely', () => {
  test.each([
    ['a', /1 character long; a secret must have at least 8/],
    ['2026', /4 characters long/],
    ['worker', /6 characters long/],
    ['20261205', /a number of 8 digits/],
    ['password', /a word of 8 letters/],
    ['********', /one character repeated/],
    ['orchestrator', /a word of 12 letters/],
    ['gpu-scal', /part of\) a word gpu-scaler/],
    ['POLL_INTERVAL', /part of\) a word gpu-scaler/],
  ])('%s: %s', (value, why) => {
    expect(unsafeSecretReason(value, ['POLL_INTERVAL_SEC'])).toMatch(why);
  });

  test.each(['k9-Qz71-pL0x', 'rpa_0123456789abcdef', 'abcdefghijklmnopq', 'postgres://u:pw@db/x'])(
    '%s is safe',
    (v) => {
      expect(unsafeSecretReason(v)).toBeNull();
    },
  );

  test("a URL's password or a worker environment's value that is not safe is redacted only in place", () => {
    const secrets = secretsOf({
      DATABASE_URL: 'postgres://svc:2026@db:5432/x',
      RUNPOD_WORKER_ENV: '{"MODE":"production","HF_TOKEN":"hf_Zx81kLm0Pq"}',
    });
    expect(secrets).toEqual(expect.arrayContaining(['hf_Zx81kLm0Pq']));
    expect(secrets).not.toContain('2026');
    expect(secrets).not.toContain('production');
    expect(redactSecrets('at 2026: postgres://svc:2026@db:5432/x failed', secrets)).toBe('at 2026: *** failed');
  });
});
