-- High-rise per GB 50016-2014 §5.1.1: residential > 27 m, other > 24 m.
CREATE OR REPLACE VIEW layers.buildings AS
SELECT id, name, use, floors, height_m, built_year,
       coalesce(height_m > CASE WHEN use = 'residential' THEN 27 ELSE 24 END, false) AS high_rise,
       grid_id, geom
FROM firetwin.building;
