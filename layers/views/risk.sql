-- Latest score per unit (most recent as_of; newest model version on ties).
CREATE OR REPLACE VIEW layers.risk AS
SELECT DISTINCT ON (r.unit_id)
       r.id, r.unit_id, u.name AS unit_name, r.score, r.tier, r.rank, r.as_of, r.model_version,
       r.grid_id, r.geom
FROM firetwin.risk_score r JOIN firetwin.unit u ON u.id = r.unit_id
ORDER BY r.unit_id, r.as_of DESC, r.model_version DESC;
