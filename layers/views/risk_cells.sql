-- Latest aggregation per cell and resolution.
CREATE OR REPLACE VIEW layers.risk_cells AS
SELECT DISTINCT ON (c.h3_cell)
       c.h3_cell AS id, c.h3_cell, c.resolution, c.score, c.max_score, c.units, c.as_of, c.geom
FROM firetwin.risk_cell c
ORDER BY c.h3_cell, c.as_of DESC, c.model_version DESC;
