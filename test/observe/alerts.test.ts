import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { appRegistry, type DataOf } from '../../events/index';
import { AlertSender } from '../../src/observe/alerts';
import type { EventStore } from '../../src/store/event-store';
import { BACKENDS, forEachBackend } from '../helpers/harness';
import { waitFor } from '../helpers/wait';

/** A local webhook: records each body; answers 500 to the next `failNext` posts. */
async function receiver() {
  const bodies: { text: string; blocks: { type: string; text?: { text: string } }[] }[] = [];
  const state = { failNext: 0, attempts: 0 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      state.attempts += 1;
      if (state.failNext > 0) {
        state.failNext -= 1;
        res.writeHead(500).end('try later');
        return;
      }
      bodies.push(JSON.parse(body));
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook/s3cret-path`,
    bodies,
    state,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const T0 = Date.parse('2026-11-27T18:00:00.000Z');
const at = (sec: number) => new Date(T0 + sec * 1000).toISOString();

async function anomaly(store: EventStore, kind: DataOf<'AnomalyDetected'>['kind'], sec: number, message: string) {
  await store.append('test-alerts', [
    { type: 'AnomalyDetected', data: { cycle: 1 + sec, at: at(sec), kind, message, figures: {}, causes: ['a cause'] } },
  ]);
}

forEachBackend('alert webhook', BACKENDS, (backend) => {
  test('each alert is posted once, retried with backoff, once across a restart, repeats grouped', async () => {
    const store = await backend().open(appRegistry);
    const hook = await receiver();
    const make = () =>
      new AlertSender({
        store,
        url: hook.url,
        groupWindowSec: 600,
        secrets: [hook.url],
        minBackoffMs: 10,
        maxBackoffMs: 40,
        pollIntervalMs: 20,
      });
    let sender = make();
    try {
      hook.state.failNext = 2; // the first post fails twice, then goes through
      await anomaly(store, 'task_count_from_nowhere', 0, 'Task count jumped from 0 to 51');
      await store.append('test-alerts', [
        {
          type: 'HealthChecked',
          data: {
            cycle: 2,
            at: at(30),
            status: 'failing',
            dbLogging: {
              enabled: true,
              healthy: false,
              initError: null,
              sent: 0,
              failed: 9,
              dropped: 0,
              queueSize: 0,
              errorRate: 1,
            },
            problems: ['database logging failed 9 of 9 writes'],
          },
        },
        // a healthy check is no alert
        {
          type: 'HealthChecked',
          data: {
            cycle: 3,
            at: at(31),
            status: 'healthy',
            dbLogging: {
              enabled: true,
              healthy: true,
              initError: null,
              sent: 1,
              failed: 0,
              dropped: 0,
              queueSize: 0,
              errorRate: 0,
            },
            problems: [],
          },
        },
      ]);
      const errors: string[] = [];
      sender.subscription.on('error', (e) => errors.push((e as Error).message));
      sender.start();
      await waitFor(() => hook.bodies.length === 2, 'two alerts', 30_000);
      expect(hook.state.attempts).toBe(4);
      expect(errors).toEqual([
        'the alert webhook answered 500: try later; will retry',
        'the alert webhook answered 500: try later; will retry',
      ]);
      expect(hook.bodies[0].text).toBe('gpu-scaler: 📈 Tasks from nowhere: Task count jumped from 0 to 51\n• a cause');
      expect(hook.bodies[0].blocks.map((b) => b.type)).toEqual(['header', 'section', 'context']);
      expect(hook.bodies[1].text).toContain('❌ Health check failing');
      expect(hook.bodies[1].text).toContain('database logging failed 9 of 9 writes');
      await sender.stop();

      // a restart: a new sender on the same store sends only what is new
      await anomaly(store, 'task_count_from_nowhere', 60, 'Task count jumped from 0 to 40'); // a repeat: held
      await anomaly(store, 'slow_task_source', 90, 'Task source answered in 6.2 s'); // new: sent
      sender = make();
      sender.start();
      await waitFor(() => hook.bodies.length === 3, 'the third alert', 30_000);
      await anomaly(store, 'task_count_from_nowhere', 700, 'Task count jumped from 0 to 33'); // past the window
      await waitFor(() => hook.bodies.length === 4, 'the fourth alert', 30_000);
      // nothing more to send: stopped first (stop() waits for the step in flight, which moves the
      // checkpoint past the fourth alert after its post), a catch-up handles nothing. A catch-up
      // beside the running sender would read from where that step started and post the alert again.
      await sender.stop();
      expect(await sender.catchUp()).toBe(0);
      expect(hook.bodies.length).toBe(4);
      expect(hook.bodies[2].text).toContain('🐢 Task source slow: Task source answered in 6.2 s');
      expect(hook.bodies[3].text).toContain('Task count jumped from 0 to 33');
      expect(hook.bodies[3].text).toContain('(1 more like it since the last alert of this kind');
      // the webhook URL is a secret: never in what is sent
      for (const b of hook.bodies) expect(JSON.stringify(b)).not.toContain('s3cret-path');
    } finally {
      await sender.stop();
      await hook.close();
      await store.close();
    }
  });
});
