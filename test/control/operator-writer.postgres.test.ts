/**
 * Operator commands against a server from another connection with only the writer's rights (a login
 * in gpu_scaler_writer, as on any machine with the service's DATABASE_URL): appended, and obeyed by
 * the running controller from its next cycle. Runs when TEST_DATABASE_URL is set.
 */
import postgres from 'postgres';
import { appRegistry } from '../../events/index';
import { ALL_POOLS, OPERATOR_STREAM } from '../../events/operator';
import { issueCommand } from '../../src/cli/operator';
import { openPostgresDb } from '../../src/store/db-postgres';
import { storeOn } from '../../src/store/index';
import { WRITER_ROLE } from '../../src/store/roles';
import { postgresBackend, TEST_DATABASE_URL } from '../helpers/backends';
import { decided, harness } from '../helpers/harness';

(TEST_DATABASE_URL ? describe : describe.skip)('operator commands with the writer login', () => {
  test('a pause appended by a writer login from another connection stops spawns from the next cycle', async () => {
    const backend = postgresBackend();
    const admin = postgres(TEST_DATABASE_URL as string, { max: 1, onnotice: () => {} });
    const writer = `gs_operator_${process.pid}`;
    await admin.unsafe(`drop role if exists ${writer}`);
    await admin.unsafe(`create role ${writer} login in role ${WRITER_ROLE}`);
    const url = new URL(TEST_DATABASE_URL as string);
    url.username = writer;
    url.password = '';
    const h = await harness(backend);
    const other = await storeOn(
      await openPostgresDb({ url: url.toString(), schema: h.store.db.schema, max: 1 }),
      appRegistry,
    );
    try {
      h.source.set(4);
      await issueCommand(
        other,
        { command: 'pause', pool: ALL_POOLS, by: 'ana@ops-1', reason: 'incident 123' },
        h.clock.now(),
      );
      expect((await other.readStream(OPERATOR_STREAM)).map((e) => e.type)).toEqual(['OperatorCommandIssued']);
      const paused = decided(await h.cycle());
      expect(paused.decision).toMatchObject({ decision: 'MAINTAIN', delta: 0, desired: 4 });
      expect(paused.decision.spawnBlocked).toMatch(/^paused by ana@ops-1 at \d\d:\d\d UTC: incident 123$/);
      await issueCommand(other, { command: 'resume', pool: 'default', by: 'ana@ops-1', reason: null }, h.clock.now());
      expect(decided(await h.cycle()).decision).toMatchObject({ decision: 'SCALE_UP', delta: 4 });
    } finally {
      await other.close();
      await h.close();
      await backend.teardown();
      await admin.unsafe(`drop owned by ${writer}`).catch(() => {});
      await admin.unsafe(`drop role if exists ${writer}`).catch(() => {});
      await admin.end();
    }
  }, 120_000);
});
