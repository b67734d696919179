CREATE OR REPLACE VIEW layers.hazards AS
SELECT id, code, category, subcategory, tier, status, source, title, reported_at, rectify_due_at,
       closed_at, supervised, published, unit_id, grid_id, h3_r9, cluster_id, reporter_name,
       responsible_person, geom
FROM firetwin.hazard;
