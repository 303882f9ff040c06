import { randomUUID } from 'node:crypto';
import { isEvent } from '../../events/index';
import { ALL_PROJECTIONS, foldAll } from '../../projections/index';
import { eventTypesOf, type AnyProjection as Projection } from '../../src/projections/rebuild';
import { checkpointName, type ProjectionRunner } from '../../src/projections/runner';
import type { Db, Sql } from '../../src/store/db';
import type { Checkpoint, EventStore, NewEvent, StoredEvent } from '../../src/store/event-store';
import { eventTime as storeEventTime } from '../../src/store/event-time';
import { CheckpointConflictError } from '../../src/store/subscription';

const q = (name: string) => `"${name}"`;

/** The events a rebuild of these projections reads: those of their eventTypes. */
export function folded(events: StoredEvent[], projections: readonly Projection[] = ALL_PROJECTIONS): StoredEvent[] {
  const types = new Set(eventTypesOf(projections));
  return events.filter((e) => types.has(e.type));
}

/** Every committed event, in catch-up order. */
export async function allEvents(store: EventStore): Promise<StoredEvent[]> {
  const all: StoredEvent[] = [];
  for await (const batch of store.readAll({ batchSize: 500 })) all.push(...batch);
  return all;
}

/** A table's rows as the database shows them (`to_jsonb`), in key order. */
/** The order rows are compared in: a pool's cycles in number order (their key, `<pool>:<cycle>`, is text), else the key. */
const rowOrder = (p: Projection) => (p.key === 'pool_cycle' ? 't.pool, t.cycle' : `t.${p.key}`);

export async function tableRows(sql: Sql, schema: string, p: Projection): Promise<unknown[]> {
  const rows = await sql.query<{ r: unknown }>(
    `select to_jsonb(t) as r from ${q(schema)}.${q(p.table)} t order by ${rowOrder(p)}`,
  );
  return rows.map((r) => r.r);
}

/**
 * What the table must hold: foldAll of the events, turned into typed rows by the database itself
 * (inserted into a temporary copy of the table), so timestamps compare as values.
 * (Not `from jsonb_populate_recordset(null::T, …)` alone: a prepared statement that names a table's
 * row type but not the table is not re-planned when a swap replaces the table, and then fails.)
 */
export async function foldedRows(
  db: Db,
  schema: string,
  p: Projection,
  events: readonly StoredEvent[],
): Promise<unknown[]> {
  const rows = [...foldAll(p, events).values()];
  return db.transaction(async (tx) => {
    await tx.exec(`create temp table folded (like ${q(schema)}.${q(p.table)}) on commit drop`);
    await tx.query('insert into folded select * from jsonb_populate_recordset(null::folded, $1::text::jsonb)', [
      JSON.stringify(rows),
    ]);
    const out = await tx.query<{ r: unknown }>(`select to_jsonb(t) as r from folded t order by ${rowOrder(p)}`);
    return out.map((r) => r.r);
  });
}

/** Every projection table of a schema. */
export async function snapshot(sql: Sql, schema: string): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const p of ALL_PROJECTIONS) out[p.table] = await tableRows(sql, schema, p);
  return out;
}

export async function checkpoints(sql: Sql): Promise<Record<string, Checkpoint>> {
  const rows = await sql.query<{ name: string; tx_id: string; global_position: number }>(
    'select name, tx_id::text as tx_id, global_position from projection_checkpoints order by name',
  );
  return Object.fromEntries(rows.map((r) => [r.name, { txId: r.tx_id, position: r.global_position }]));
}

/**
 * Asserts that every projection table equals the fold of all events and that every checkpoint is
 * the last event; returns the events.
 */
export async function expectAtLastEvent(store: EventStore): Promise<StoredEvent[]> {
  const schema = store.db.schema;
  const events = await allEvents(store);
  for (const p of ALL_PROJECTIONS) {
    expect(await tableRows(store.db, schema, p)).toEqual(await foldedRows(store.db, schema, p, events));
  }
  const last = events[events.length - 1];
  const cps = await checkpoints(store.db);
  for (const p of ALL_PROJECTIONS) {
    expect(cps[checkpointName(p)]).toEqual({ txId: last.txId, position: last.globalPosition });
  }
  return events;
}

export async function projectionCheckpoint(sql: Sql, p: Projection): Promise<Checkpoint> {
  return (await checkpoints(sql))[checkpointName(p)];
}

/** The event time `replay --until TIME` compares (src/store/event-time.ts). */
export function eventTime(e: StoredEvent): Date {
  return storeEventTime(e.data, e.recordedAt);
}

/**
 * Appends valid events that touch every projection: a new worker's life (inserts), the end of an
 * existing worker (an update), a decision, an anomaly and a health summary of a new cycle.
 * Data of existing events of the same types is reused, so it passes the schemas.
 */
export async function appendMore(store: EventStore, n: number, existingWorker?: string): Promise<number> {
  const all = await allEvents(store);
  const sample = <S extends StoredEvent>(is: (e: StoredEvent) => e is S): S['data'] => {
    const e = all.find(is);
    if (!e) throw new Error('no event of that type to copy');
    return e.data;
  };
  const cycle = 100_000 + n;
  const at = new Date(Date.UTC(2026, 10, 28, 0, 0, n)).toISOString();
  const workerId = `more-${n}-${randomUUID().slice(0, 6)}`;
  const batches: [string, NewEvent[]][] = [
    [
      'controller',
      [
        { type: 'ScalingDecided', data: { ...sample(isEvent('ScalingDecided')), cycle, at } },
        { type: 'AnomalyDetected', data: { ...sample(isEvent('AnomalyDetected')), cycle, at } },
      ],
    ],
    ['health', [{ type: 'HealthSummaryRecorded', data: { ...sample(isEvent('HealthSummaryRecorded')), cycle, at } }]],
    [
      `worker-${workerId}`,
      [
        {
          type: 'WorkerSpawnRequested',
          data: {
            workerId,
            at,
            cycle,
            decisionEventId: randomUUID(),
            ordinal: 1,
            of: 1,
            idempotencyKey: workerId,
            provider: 'simulated',
          },
        },
        {
          type: 'WorkerSpawned',
          data: { workerId, at, podId: `pod-${workerId}`, ordinal: 1, of: 1, recovered: false, details: {} },
        },
        { type: 'WorkerActivated', data: { workerId, at, podId: `pod-${workerId}` } },
      ],
    ],
  ];
  if (existingWorker) {
    batches.push([
      `worker-${existingWorker}`,
      [
        {
          type: 'WorkerTerminated',
          data: {
            workerId: existingWorker,
            at,
            podId: null,
            reason: 'manual',
            detail: `ended by test ${n}`,
            failed: n % 2 === 1,
            exitCode: null,
            gpuSeconds: null,
          },
        },
      ],
    ]);
  }
  let count = 0;
  for (const [stream, events] of batches) {
    await store.append(stream, events);
    count += events.length;
  }
  return count;
}

/**
 * runner.catchUp(), again after a CheckpointConflictError: each subscription of a runner whose
 * checkpoint was moved under it (by a swap) fails its next batch once, by design, and reloads the
 * stored checkpoint. Returns the events applied and the conflicts seen.
 */
export async function catchUpAfterSwap(runner: ProjectionRunner): Promise<{ applied: number; conflicts: number }> {
  let conflicts = 0;
  for (;;) {
    try {
      return { applied: await runner.catchUp(), conflicts };
    } catch (err) {
      if (!(err instanceof CheckpointConflictError) || conflicts > runner.projections.length) throw err;
      conflicts += 1;
    }
  }
}
