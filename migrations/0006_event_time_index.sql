-- Events carry their own time in data->>'at' (ISO 8601, UTC, from the controller's clock; in a
-- simulation or the demo that clock is simulated, so recorded_at is not the time to search by).
-- `gpu-scaler explain --at` and `events --since` search by it.
CREATE INDEX events_data_at_idx ON events ((data->>'at'));
