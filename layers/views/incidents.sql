CREATE OR REPLACE VIEW layers.incidents AS
SELECT id, kind, occurred_at, cause, unit_id, severity, casualties, grid_id, geom
FROM firetwin.incident;
