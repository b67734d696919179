CREATE OR REPLACE VIEW layers.roads AS
SELECT id, name, road_class, width_m, maxheight_m, oneway, speed_kph, length_m, is_fire_lane,
       blocked, truck_ok, grid_id, geom
FROM firetwin.road_edge;
