CREATE OR REPLACE VIEW layers.hydrants AS
SELECT id, code, status, owner_person, last_inspected_at, grid_id, geom
FROM firetwin.facility
WHERE kind = 'hydrant';
