CREATE OR REPLACE VIEW layers.grids AS
SELECT g.id, g.code, g.name, g.kind, c.name AS community, s.name AS street,
       w.display_name AS worker_name, g.grid_id, g.geom
FROM firetwin.grid g
LEFT JOIN firetwin.region c ON c.id = g.community_id
LEFT JOIN firetwin.region s ON s.id = g.street_id
LEFT JOIN firetwin.app_user w ON w.id = g.worker_user_id;
