-- The replicas running against this store (issue #25): each renews its row every cycle from the
-- connection that holds its leases. A replica is live while its row has not expired and that
-- connection's backend exists (a killed process is gone at once); replicas spread the pools by the
-- number of live ones (src/pools/leadership.ts). Rows of replicas long gone are deleted by the
-- live ones.
CREATE TABLE IF NOT EXISTS controller_replicas (
  replica     text        PRIMARY KEY,
  backend_pid integer     NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  renewed_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);

COMMENT ON TABLE controller_replicas IS
  'One row per replica (its heartbeat): live while expires_at has not passed and backend_pid exists. Only gpu_scaler_writer may write it.';

REVOKE ALL ON controller_replicas FROM gpu_scaler_reader;
GRANT SELECT ON controller_replicas TO gpu_scaler_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON controller_replicas TO gpu_scaler_writer;
