import type { ProjectedEvent, Projection } from './projection';

export interface AnomalyRow {
  [k: string]: string | number | boolean | null | object;
  event_id: string;
  global_position: number;
  cycle: number;
  detected_at: string;
  kind: string;
  message: string;
  figures: object;
  causes: object;
  pool: string;
}

/** One row per anomaly. */
export const anomaliesProjection: Projection<AnomalyRow> = {
  name: 'anomalies',
  table: 'anomalies',
  key: 'event_id',
  columns: ['event_id', 'global_position', 'cycle', 'detected_at', 'kind', 'message', 'figures', 'causes', 'pool'],
  eventTypes: ['AnomalyDetected'],
  keyOf: (e: ProjectedEvent) => (e.type === 'AnomalyDetected' ? e.eventId : null),
  evolve(row, e) {
    if (e.type !== 'AnomalyDetected') return row;
    const d = e.data;
    return {
      event_id: e.eventId,
      global_position: e.globalPosition,
      cycle: d.cycle,
      detected_at: d.at,
      kind: d.kind,
      message: d.message,
      figures: d.figures,
      causes: d.causes,
      pool: d.pool,
    };
  },
};
