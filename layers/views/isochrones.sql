-- Drive-time rings per station (truck, open blockages closed): 0–4, 4–5 and 5–8 min of driving.
CREATE OR REPLACE VIEW layers.isochrones AS
SELECT i.id, i.station_id, s.code AS station_code, s.name AS station_name, s.kind AS station_kind,
       i.from_s, i.to_s,
       format('%s–%s min', trim_scale(round((i.from_s / 60)::numeric, 1)),
              trim_scale(round((i.to_s / 60)::numeric, 1))) AS band,
       i.area_km2, i.computed_at, i.geom
FROM firetwin.station_isochrone i JOIN firetwin.station s ON s.id = i.station_id;
