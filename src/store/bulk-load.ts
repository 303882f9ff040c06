import { copyText } from './copy-text';
import type { EventStore, StoredEvent } from './event-store';

const COLUMNS = ['stream_id', 'stream_version', 'event_id', 'event_type', 'schema_version', 'data', 'metadata'];
const JSON_COLUMNS = new Set(['data', 'metadata']);

/**
 * Writes events made elsewhere (a simulation's in-memory store) into an empty store in one COPY:
 * in their order, with their ids, streams and versions; positions, tx ids and recorded_at are the
 * database's own, as with every append. Refuses a store that already holds events, so two
 * histories are never interleaved. The caller rebuilds the projections afterwards.
 */
export async function loadEventsInto(store: EventStore, events: readonly StoredEvent[]): Promise<void> {
  const head = await store.headPosition();
  if (head > 0) {
    throw new Error(`the store already holds ${head} events: load a simulated history into an empty store only`);
  }
  if (events.length === 0) return;
  const rows = events.map((e) => ({
    stream_id: e.streamId,
    stream_version: e.streamVersion,
    event_id: e.eventId,
    event_type: e.type,
    schema_version: e.schemaVersion,
    data: store.registry.encode(e.type, e.data).data,
    metadata: e.metadata,
  }));
  await store.db.transaction((tx) => tx.copyIn('events', COLUMNS, copyText(rows, COLUMNS, JSON_COLUMNS)));
}
