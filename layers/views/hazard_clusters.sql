-- Density clusters of hazards (DBSCAN in metres) from the latest analysis refresh.
CREATE OR REPLACE VIEW layers.hazard_clusters AS
SELECT id, kind, level, category, members, categories::text AS categories, n_categories,
       dominant_category, dominant_share, area_m2, density_per_km2, previous_members, growth,
       window_from, window_to, computed_at, grid_id, community_id, street_id, geom
FROM firetwin.hazard_cluster;
