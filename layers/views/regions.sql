CREATE OR REPLACE VIEW layers.regions AS
SELECT id, code, name, level, parent_id, population, area_km2, geom
FROM firetwin.region;
