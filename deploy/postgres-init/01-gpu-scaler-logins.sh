#!/bin/sh
# Run once by the postgres image on a fresh volume (/docker-entrypoint-initdb.d), as POSTGRES_USER
# (the owner: it runs `gpu-scaler migrate`). Creates the group roles migrations/0008_roles.sql
# grants to, and one login in each: the controller connects as gpu_scaler_service (writer),
# `gpu-scaler sql` as gpu_scaler_query (reader). Passwords come from the environment.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v writer_password="$GPU_SCALER_WRITER_PASSWORD" -v reader_password="$GPU_SCALER_READER_PASSWORD" <<'EOSQL'
CREATE ROLE gpu_scaler_writer NOLOGIN;
CREATE ROLE gpu_scaler_reader NOLOGIN;
CREATE ROLE gpu_scaler_service LOGIN PASSWORD :'writer_password' IN ROLE gpu_scaler_writer;
CREATE ROLE gpu_scaler_query LOGIN PASSWORD :'reader_password' IN ROLE gpu_scaler_reader;
EOSQL
