CREATE OR REPLACE VIEW layers.stations AS
SELECT s.id, s.code, s.name, s.kind, s.status, s.staff, s.phone,
       (SELECT count(*)::int FROM firetwin.vehicle v WHERE v.station_id = s.id) AS vehicles,
       s.grid_id, s.geom
FROM firetwin.station s;
