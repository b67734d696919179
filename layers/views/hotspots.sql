-- Getis-Ord Gi* hot and cold spots of hazard counts per H3 cell (latest analysis refresh).
CREATE OR REPLACE VIEW layers.hotspots AS
SELECT id, h3_cell, resolution, category, hazards, gi, z, p_sim, p_z_sim, p_binom, p_norm, p_fdr, hotspot,
       permutations, window_from, window_to, computed_at, grid_id, geom
FROM firetwin.hotspot_cell;
