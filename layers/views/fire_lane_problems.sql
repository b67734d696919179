-- Per-building fire-lane problems (GB 50016 §7.1, GB 50974 §7.2) from the last analysis.
CREATE OR REPLACE VIEW layers.fire_lane_problems AS
SELECT p.id, p.building_id, p.problem, p.message, p.label_zh, p.computed_at, b.height_m,
       b.use, p.grid_id, p.geom
FROM firetwin.fire_lane_problem p JOIN firetwin.building b ON b.id = p.building_id;
