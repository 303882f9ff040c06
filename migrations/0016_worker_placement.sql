-- Where each worker was placed (projections/workers.ts, from its WorkerSpawned's details): the GPU
-- type and data center RunPod placed the pod in, the node Kubernetes scheduled it on (when known at
-- spawn). `gpu-scaler status` lists them (rendered by src/reactor/placement.ts). Null for providers
-- that record no placement and for workers projected before this migration (rebuild to fill them).

ALTER TABLE workers ADD COLUMN gpu_type text;
ALTER TABLE workers ADD COLUMN data_center text;
ALTER TABLE workers ADD COLUMN node text;
