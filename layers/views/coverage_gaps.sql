-- H3 cells (resolution 9) holding buildings or units no station reaches within 5 minutes.
CREATE OR REPLACE VIEW layers.coverage_gaps AS
SELECT id, h3_cell, resolution, units, buildings, high_risk_units, best_eta_s, computed_at,
       grid_id, geom
FROM firetwin.coverage_gap;
