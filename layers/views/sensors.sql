CREATE OR REPLACE VIEW layers.sensors AS
SELECT id, code, kind, status, unit_id, last_seen_at, last_value, grid_id, geom
FROM firetwin.sensor;
