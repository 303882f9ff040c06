-- Who leads: a lease row only the writer may take (issue #24.2).
--
-- Before this, the leader held a session advisory lock (class 2002). Advisory locks need no grant:
-- any login of the database, the read-only one included, could take that key first and make every
-- controller stand by ("following", 0 spawns) with /readyz green. A row of a table is guarded by
-- its grants: the reader may read this one and nothing else, and row locks (UPDATE, SELECT ... FOR
-- UPDATE/SHARE) need UPDATE, which only gpu_scaler_writer has. LOCK TABLE, the one lock a reader
-- may take on it (ACCESS SHARE), does not conflict with an UPDATE.
--
-- One row per schema (each schema is one store). The leader sets holder to an id of its own and
-- holder_pid to its connection's backend, and renews expires_at while it runs
-- (src/store/leader-lock.ts). Another controller takes the lease when it is free, expired, or its
-- holder's backend is gone (a killed process: takeover within a cycle, as with the advisory lock).
CREATE TABLE IF NOT EXISTS controller_lease (
  name        text        PRIMARY KEY CHECK (name = 'controller'),
  holder      text,
  holder_pid  integer,
  acquired_at timestamptz,
  renewed_at  timestamptz,
  expires_at  timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO controller_lease (name) VALUES ('controller') ON CONFLICT (name) DO NOTHING;

COMMENT ON TABLE controller_lease IS
  'The controller''s leadership: one row; holder is the leading process, holder_pid its connection; free when holder is null, expires_at has passed or holder_pid is gone. Only gpu_scaler_writer may update it.';

REVOKE ALL ON controller_lease FROM gpu_scaler_reader;
GRANT SELECT ON controller_lease TO gpu_scaler_reader;
GRANT SELECT, UPDATE ON controller_lease TO gpu_scaler_writer;
