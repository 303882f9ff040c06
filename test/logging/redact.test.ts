import { secretsOf } from '../../src/config';
import { redactSecrets } from '../../src/logging/index';
import { makeRedactor, redactStrings, redactValue } from '../../src/logging/redact';

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
