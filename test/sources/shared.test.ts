import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpSource } from '../../src/sources/http';
import { SharedRequests } from '../../src/sources/shared';

/** An endpoint answering every pool's counts in one body, counting the requests it gets. */
let server: Server;
let url: string;
let requests = 0;
let queued = { video: 4, image: 9 };
beforeAll(async () => {
  server = createServer((req, res) => {
    requests += 1;
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          pools: { video: { queued: queued.video, active: 1 }, image: { queued: queued.image, active: 2 } },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/counts`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const signal = new AbortController().signal;
const poolSource = (pool: string, shared?: SharedRequests, key = 'k1') =>
  createHttpSource({
    url,
    key,
    queuedPath: `pools.${pool}.queued`,
    activePath: `pools.${pool}.active`,
    ...(shared ? { shared } : {}),
  });

test('pools asking the same request share one per cycle, each reading its own paths', async () => {
  let now = 0;
  const shared = new SharedRequests(15_000, () => now);
  const video = poolSource('video', shared);
  const image = poolSource('image', shared);
  requests = 0;
  const [v, i] = await Promise.all([video.fetch({ workerIds: [], signal }), image.fetch({ workerIds: [], signal })]);
  expect([v, i, requests]).toEqual([
    { queued: 4, active: 1, workers: null },
    { queued: 9, active: 2, workers: null },
    1,
  ]);
  // a pool whose cycle starts a little later still shares the answer
  now = 10_000;
  expect(await image.fetch({ workerIds: [], signal })).toEqual({ queued: 9, active: 2, workers: null });
  expect(requests).toBe(1);
  // the next cycle asks again, and sees what changed
  now = 40_000;
  queued = { video: 7, image: 0 };
  const [v2, i2] = await Promise.all([video.fetch({ workerIds: [], signal }), image.fetch({ workerIds: [], signal })]);
  expect([v2, i2, requests]).toEqual([
    { queued: 7, active: 1, workers: null },
    { queued: 0, active: 2, workers: null },
    2,
  ]);
});

test('another credential is another request, and without sharing every fetch asks', async () => {
  const shared = new SharedRequests(15_000, () => 0);
  requests = 0;
  await Promise.all([
    poolSource('video', shared, 'k1').fetch({ workerIds: [], signal }),
    poolSource('image', shared, 'k2').fetch({ workerIds: [], signal }),
  ]);
  expect(requests).toBe(2);
  requests = 0;
  await Promise.all([
    poolSource('video').fetch({ workerIds: [], signal }),
    poolSource('image').fetch({ workerIds: [], signal }),
  ]);
  expect(requests).toBe(2);
});
