-- Log lines of the controller (and, later, other sources), written in batches by
-- src/logging/system-logs-transport.ts. Operators query this table by hand; keep the column names stable.

CREATE TABLE system_logs (
  id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  created_at   timestamptz NOT NULL DEFAULT now(),
  source_type  text        NOT NULL,
  source_id    text        NOT NULL,
  log_level    text        NOT NULL,
  message      text        NOT NULL,
  worker_id    text,
  cycle_number integer,
  metadata     jsonb       NOT NULL DEFAULT '{}'::jsonb
);

COMMENT ON TABLE system_logs IS 'gpu-scaler log lines (syslog levels); cycle_number and worker_id come from the cycle and workerId log metadata';

CREATE INDEX system_logs_created_at_idx ON system_logs (created_at);
CREATE INDEX system_logs_cycle_number_idx ON system_logs (cycle_number);
