-- First-due areas: the roads each station reaches before any other (truck, open blockages closed).
CREATE OR REPLACE VIEW layers.first_due_areas AS
SELECT a.id, a.station_id, s.code AS station_code, s.name AS station_name,
       s.kind AS station_kind, a.nodes, a.area_km2, a.computed_at, a.geom
FROM firetwin.first_due_area a JOIN firetwin.station s ON s.id = a.station_id;
