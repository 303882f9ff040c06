import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noDelaySockets } from '../../src/store/db-postgres';
import { waitFor } from '../helpers/wait';

/**
 * The socket factory the store gives porsager (for TCP_NODELAY) replaces porsager's own connect:
 * it must still reach each host of a multi-host URL in turn, and a Unix socket path when there is one.
 */
describe('store connections (noDelaySockets)', () => {
  const servers: net.Server[] = [];
  const sockets: net.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  /** A server that reports which one was reached. */
  const listen = async (name: string, where: number | string): Promise<{ port: number; hits: string[] }> => {
    const hits: string[] = [];
    const server = net.createServer((c) => {
      hits.push(name);
      c.destroy();
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(where as number, r));
    const addr = server.address();
    return { port: typeof addr === 'object' && addr ? addr.port : 0, hits };
  };
  /** Resolves once `count()` reaches n: the servers' connection handlers run after the client's connect. */
  const reached = (count: () => number, n: number, what: () => string) =>
    waitFor(() => count() >= n, `${n} connections`, 10_000, {
      everyMs: 5,
      describe: () => `the servers saw ${count()}: ${what()}`,
    });
  const connected = (s: net.Socket) =>
    new Promise<void>((resolve, reject) => {
      sockets.push(s);
      s.once('connect', resolve);
      s.once('error', reject);
    });

  test('hosts are tried in turn, each socket knows its host and port (TLS uses it)', async () => {
    const a = await listen('a', 0);
    const b = await listen('b', 0);
    const make = noDelaySockets();
    const opts = { host: ['127.0.0.1', 'localhost'], port: [a.port, b.port], path: false as const };
    const first = make(opts);
    await connected(first);
    const second = make(opts);
    await connected(second);
    const third = make(opts);
    await connected(third);
    await reached(
      () => a.hits.length + b.hits.length,
      3,
      () => JSON.stringify([a.hits, b.hits]),
    );
    expect([...a.hits, ...b.hits].sort()).toEqual(['a', 'a', 'b']);
    expect(a.hits).toEqual(['a', 'a']);
    const named = (s: net.Socket) => s as unknown as { host: string; port: number };
    expect([first, second, third].map((s) => [named(s).host, named(s).port])).toEqual([
      ['127.0.0.1', a.port],
      ['localhost', b.port],
      ['127.0.0.1', a.port],
    ]);
  });

  test('a Unix socket path wins over host and port', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpu-scaler-sock-'));
    try {
      const path = join(dir, '.s.PGSQL.5432');
      const u = await listen('unix', path);
      const s = noDelaySockets()({ host: [dir], port: [5432], path });
      await connected(s);
      await reached(
        () => u.hits.length,
        1,
        () => JSON.stringify(u.hits),
      );
      expect(u.hits).toEqual(['unix']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
