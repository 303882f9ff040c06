-- Leadership per pool (issue #25): one lease row per pool in controller_lease. Pool default keeps
-- the row `controller` (a deployment of today leads as before); another pool's row is
-- `controller@<pool>`, made by the first replica that runs the pool (src/store/leader-lock.ts), so
-- the writer may now insert rows, and only rows of that shape. The reader still only reads.
ALTER TABLE controller_lease DROP CONSTRAINT IF EXISTS controller_lease_name_check;
ALTER TABLE controller_lease ADD CONSTRAINT controller_lease_name_check
  CHECK (name = 'controller' OR name ~ '^controller@[a-z0-9-]{1,40}$');

COMMENT ON TABLE controller_lease IS
  'Leadership per pool: one row each (controller: pool default, controller@<pool>: the others); holder is the leading replica, holder_pid its connection; free when holder is null, expires_at has passed or holder_pid is gone. Only gpu_scaler_writer may insert or update rows.';

REVOKE ALL ON controller_lease FROM gpu_scaler_reader;
GRANT SELECT ON controller_lease TO gpu_scaler_reader;
GRANT SELECT, INSERT, UPDATE ON controller_lease TO gpu_scaler_writer;
