import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpSource, type HttpTaskSource } from '../../src/sources/http';
import { parseTaskCount } from '../../src/sources/source';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

type Reply = (res: http.ServerResponse, seen: Seen) => void;

const KEY = 'sk-test-Secret-9f8e7d6c5b4a';

let server: http.Server;
let base: string;
let reply: Reply;
let seen: Seen[] = [];
const sockets = new Set<import('node:net').Socket>();

const json =
  (value: unknown, status = 200): Reply =>
  (res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(s);
      reply(res, s);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen = [];
  reply = json({ totals: { queued_only: 51, active_only: 7 } });
});

const fetchOnce = (src: HttpTaskSource, workerIds: string[] = []) =>
  src.fetch({ workerIds, signal: new AbortController().signal });

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

describe('http task source', () => {
  test('POSTs the default body with the bearer key and reads the default paths', async () => {
    const src = createHttpSource({ url: `${base}/functions/v1/task-counts?x=1`, key: KEY });
    expect(src.name).toBe('http');
    const raw = await fetchOnce(src);
    expect(raw).toEqual({ queued: 51, active: 7, workers: null });
    expect(seen).toHaveLength(1);
    expect(seen[0].method).toBe('POST');
    expect(seen[0].url).toBe('/functions/v1/task-counts?x=1');
    expect(seen[0].authorization).toBe(`Bearer ${KEY}`);
    expect(seen[0].contentType).toBe('application/json');
    expect(JSON.parse(seen[0].body)).toEqual({ run_type: 'gpu' });
    expect(parseTaskCount(raw, 1000)).toEqual({ ok: true, value: { queued: 51, active: 7, workers: null } });
  });

  test('GET sends no body; without a key no Authorization header', async () => {
    const src = createHttpSource({ url: `${base}/count`, method: 'GET' });
    await fetchOnce(src);
    expect(seen[0].method).toBe('GET');
    expect(seen[0].url).toBe('/count');
    expect(seen[0].authorization).toBeUndefined();
    expect(seen[0].body).toBe('');
  });

  test('custom body, custom paths with indexes, and per-worker activity', async () => {
    const workers = [{ workerId: 'w-1', activeTasks: 2, lastTaskAt: '2026-01-01T00:00:00.000Z' }];
    reply = json({ data: [{ counts: { waiting: 4, running: 2 } }], meta: { perWorker: workers } });
    const src = createHttpSource({
      url: `${base}/c`,
      key: KEY,
      body: { run_type: 'gpu', region: 'eu' },
      queuedPath: 'data[0].counts.waiting',
      activePath: 'data.0.counts.running',
      workersPath: 'meta.perWorker',
      name: 'edge',
    });
    expect(src.name).toBe('edge');
    const raw = await fetchOnce(src, ['w-1']);
    expect(raw).toEqual({ queued: 4, active: 2, workers });
    expect(JSON.parse(seen[0].body)).toEqual({ run_type: 'gpu', region: 'eu' });
    expect(parseTaskCount(raw, 1000)).toEqual({ ok: true, value: { queued: 4, active: 2, workers } });
  });

  test('a workers path absent from the answer gives workers: null', async () => {
    const src = createHttpSource({ url: `${base}/c`, workersPath: 'workers' });
    expect(await fetchOnce(src)).toEqual({ queued: 51, active: 7, workers: null });
  });

  test('values come back as they are: a string stays a string, and validation rejects it', async () => {
    reply = json({ totals: { queued_only: '51', active_only: null } });
    const raw = await fetchOnce(createHttpSource({ url: `${base}/c` }));
    expect(raw).toEqual({ queued: '51', active: null, workers: null });
    const parsed = parseTaskCount(raw, 1000);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(/queued: not a number \(got string\)/);
  });

  test('a non-2xx status is an error with the status and an excerpt of the body, never the key', async () => {
    reply = (res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`internal error: bad token ${KEY}\n${'x'.repeat(5000)}`);
    };
    const err = await failure(fetchOnce(createHttpSource({ url: `${base}/fail?apikey=${KEY}`, key: KEY })));
    expect(err.message).toContain(`POST ${base}/fail answered HTTP 500`);
    expect(err.message).toContain('internal error: bad token ***');
    expect(err.message).not.toContain(KEY);
    expect(err.message.length).toBeLessThan(400);
  });

  test('an HTTP reason phrase echoing the key, or any bearer token, is redacted', async () => {
    reply = (res, req) => {
      res.writeHead(401, `Bad credentials ${req.authorization} ${KEY}`, { 'content-type': 'text/plain' });
      res.end(`denied: Authorization: Bearer other-token-123`);
    };
    const err = await failure(fetchOnce(createHttpSource({ url: `${base}/reason`, key: KEY })));
    expect(err.message).toContain(`POST ${base}/reason answered HTTP 401 Bad credentials Bearer *** ***`);
    expect(err.message).toContain('Bearer ***');
    expect(err.message).not.toContain(KEY);
    expect(err.message).not.toContain('other-token-123');
  });

  test('a body starting with a byte-order mark is valid JSON', async () => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`\uFEFF${JSON.stringify({ totals: { queued_only: 4, active_only: 1 } })}`);
    };
    expect(await fetchOnce(createHttpSource({ url: `${base}/bom` }))).toEqual({ queued: 4, active: 1, workers: null });
  });

  test('1e999 is rejected as not finite', async () => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"totals": {"queued_only": 1e999, "active_only": 0}}');
    };
    const raw = await fetchOnce(createHttpSource({ url: `${base}/inf` }));
    const parsed = parseTaskCount(raw, 100);
    expect(parsed).toEqual({ ok: false, reason: 'invalid task count: queued: not finite' });
  });

  test('a body that is not JSON is an error with an excerpt', async () => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>\n  <body>Gateway says hi</body></html>');
    };
    const err = await failure(fetchOnce(createHttpSource({ url: `${base}/c`, key: KEY })));
    expect(err.message).toBe(`POST ${base}/c did not answer JSON: <html> <body>Gateway says hi</body></html>`);
  });

  test('an empty body is not JSON either', async () => {
    reply = (res) => {
      res.writeHead(200);
      res.end();
    };
    const err = await failure(fetchOnce(createHttpSource({ url: `${base}/c` })));
    expect(err.message).toBe(`POST ${base}/c did not answer JSON: (empty body)`);
  });

  test('a missing path is an error naming the path and where it stopped', async () => {
    reply = json({ totals: { queued_only: 3 } });
    const err = await failure(fetchOnce(createHttpSource({ url: `${base}/c`, key: KEY })));
    expect(err.message).toContain('without active at "totals.active_only" (nothing at "totals.active_only")');
    expect(err.message).not.toContain(KEY);

    reply = json({ result: 'ok' });
    const err2 = await failure(fetchOnce(createHttpSource({ url: `${base}/c`, queuedPath: 'data[2].n' })));
    expect(err2.message).toContain('without queued at "data[2].n" (nothing at "data")');

    reply = json({ data: [{ n: 1 }] });
    const err3 = await failure(fetchOnce(createHttpSource({ url: `${base}/c`, queuedPath: 'data[2].n' })));
    expect(err3.message).toContain('(nothing at "data[2]")');
  });

  test('a slow server is cut off by the timeout', async () => {
    reply = (res) => {
      const t = setTimeout(() => json({ totals: { queued_only: 1, active_only: 1 } })(res, seen[0]), 5000);
      res.on('close', () => clearTimeout(t));
    };
    const err = await failure(fetchOnce(createHttpSource({ url: `${base}/slow`, key: KEY, timeoutMs: 100 })));
    expect(err.message).toBe(`POST ${base}/slow timed out after 100 ms`);
  });

  test('a body that never finishes is cut off by the timeout too', async () => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"totals": {');
    };
    const err = await failure(fetchOnce(createHttpSource({ url: `${base}/trickle`, timeoutMs: 100 })));
    expect(err.message).toBe(`POST ${base}/trickle timed out after 100 ms`);
  });

  test('an answer over maxBytes is refused', async () => {
    reply = json({ totals: { queued_only: 1, active_only: 1 }, pad: 'x'.repeat(10_000) });
    const err = await failure(fetchOnce(createHttpSource({ url: `${base}/big`, maxBytes: 1000 })));
    expect(err.message).toBe(`POST ${base}/big answered more than 1000 bytes (HTTP 200)`);
  });

  test("the caller's signal aborts the request", async () => {
    reply = (res) => {
      const t = setTimeout(() => json({ totals: { queued_only: 1, active_only: 1 } })(res, seen[0]), 5000);
      res.on('close', () => clearTimeout(t));
    };
    const abort = new AbortController();
    const p = createHttpSource({ url: `${base}/slow` }).fetch({ workerIds: [], signal: abort.signal });
    setTimeout(() => abort.abort(), 20);
    const err = await failure(p);
    expect(err.message).toBe(`POST ${base}/slow was aborted by the caller`);
  });

  test('a connection failure is an error without the key', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await failure(fetchOnce(createHttpSource({ url: `http://127.0.0.1:${port}/c`, key: KEY })));
    expect(err.message).toMatch(new RegExp(`^POST http://127.0.0.1:${port}/c failed: .*ECONNREFUSED`));
    expect(err.message).not.toContain(KEY);
  });

  test('a redirect is refused rather than followed with the key', async () => {
    reply = (res, s) => {
      if (s.url === '/moved') {
        res.writeHead(302, { location: `${base}/elsewhere` });
        res.end();
      } else json({ totals: { queued_only: 1, active_only: 1 } })(res, s);
    };
    const err = await failure(fetchOnce(createHttpSource({ url: `${base}/moved`, key: KEY })));
    expect(err.message).toMatch(new RegExp(`^POST ${base}/moved failed: .*redirect`));
    expect(err.message).not.toContain(KEY);
    expect(seen.map((s) => s.url)).toEqual(['/moved']);
  });

  test('configuration mistakes are refused up front', () => {
    expect(() => createHttpSource({ url: 'not a url' })).toThrow('TASK_COUNT_URL is not a valid URL');
    expect(() => createHttpSource({ url: 'ftp://host/x' })).toThrow('http:// or https://');
    expect(() => createHttpSource({ url: base, queuedPath: 'a..b' })).toThrow('invalid JSON path "a..b"');
    expect(() => createHttpSource({ url: base, activePath: ' ' })).toThrow('must not be empty');
  });
});
