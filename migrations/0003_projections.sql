-- Projections: plain tables folded from the events (projections/*.ts), for operators' SQL.
-- Each is rebuildable from position 0 to the same rows; its checkpoint is in projection_checkpoints.

CREATE TABLE workers (
  worker_id                text PRIMARY KEY,
  pod_id                   text,
  status                   text NOT NULL CHECK (status IN ('spawning', 'active', 'terminating', 'terminated', 'failed')),
  provider                 text,
  cycle                    integer,
  decision_event_id        text,
  ordinal                  integer,
  of_total                 integer,
  requested_at             timestamptz,
  spawned_at               timestamptz,
  active_at                timestamptz,
  termination_requested_at timestamptz,
  terminated_at            timestamptz,
  termination_reason       text,
  termination_detail       text,
  failure                  text,
  last_position            bigint NOT NULL
);
CREATE INDEX workers_status_idx ON workers (status);

CREATE TABLE scaling_decisions (
  cycle               integer PRIMARY KEY,
  decided_at          timestamptz NOT NULL,
  queued              integer NOT NULL,
  active              integer NOT NULL,
  total               integer NOT NULL,
  current_active      integer NOT NULL,
  current_spawning    integer NOT NULL,
  current_total       integer NOT NULL,
  busy                integer NOT NULL,
  idle                integer NOT NULL,
  desired_before_caps integer NOT NULL,
  requested           integer NOT NULL,
  desired             integer NOT NULL,
  decision            text NOT NULL,
  delta               integer NOT NULL,
  capped_by           text,
  limits              jsonb NOT NULL,
  terms               jsonb NOT NULL,
  terminate           jsonb NOT NULL,
  timed_out           jsonb NOT NULL,
  reasons             jsonb NOT NULL,
  settings            jsonb NOT NULL,
  event_id            text NOT NULL,
  global_position     bigint NOT NULL
);
CREATE INDEX scaling_decisions_decided_at_idx ON scaling_decisions (decided_at);

CREATE TABLE anomalies (
  event_id        text PRIMARY KEY,
  global_position bigint NOT NULL,
  cycle           integer NOT NULL,
  detected_at     timestamptz NOT NULL,
  kind            text NOT NULL,
  message         text NOT NULL,
  figures         jsonb NOT NULL,
  causes          jsonb NOT NULL
);
CREATE INDEX anomalies_detected_at_idx ON anomalies (detected_at);

CREATE TABLE health_summaries (
  cycle                integer PRIMARY KEY,
  recorded_at          timestamptz NOT NULL,
  db_logging_healthy   boolean NOT NULL,
  last_queued          integer,
  last_active          integer,
  last_total           integer,
  last_worker_count    integer NOT NULL,
  workers_by_status    jsonb NOT NULL,
  anomalies_since_last integer NOT NULL,
  anomaly_kinds        jsonb NOT NULL,
  global_position      bigint NOT NULL
);
