CREATE OR REPLACE VIEW layers.hot_work AS
SELECT id, work_kind, starts_at, ends_at, status, unit_id, applicant, grid_id, geom
FROM firetwin.hot_work_permit;
