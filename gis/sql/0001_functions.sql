-- FireTwin 0001: functions, triggers, indexes and seed rows the SQLAlchemy models do not express.

-- The point that stands for a feature in H3 and grid indexing: the point itself, the middle of
-- a line, or a point guaranteed inside a polygon. gis/indexing.py uses the same rule in Python.
CREATE OR REPLACE FUNCTION firetwin.anchor_point(g geometry) RETURNS geometry
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN GeometryType(g) = 'POINT' THEN g
        WHEN GeometryType(g) = 'LINESTRING' THEN ST_LineInterpolatePoint(g, 0.5)
        ELSE ST_PointOnSurface(g)
    END
$$;

-- The ordinary grid polygon that contains a feature's anchor point (lowest id on a shared edge).
CREATE OR REPLACE FUNCTION firetwin.grid_for(g geometry) RETURNS integer
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
    SELECT gr.id FROM firetwin.grid AS gr
    WHERE gr.kind = 'ordinary' AND ST_Intersects(gr.geom, firetwin.anchor_point(g))
    ORDER BY gr.id LIMIT 1
$$;

-- Fills grid_id on every write path that leaves it NULL (API, importers, plain SQL, ogr2ogr)
-- and recomputes it when the geometry moves.
CREATE OR REPLACE FUNCTION firetwin.assign_grid() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.grid_id := firetwin.grid_for(NEW.geom);
    RETURN NEW;
END
$$;

-- A grid's own grid_id: itself when ordinary, the ordinary grid holding it when special.
CREATE OR REPLACE FUNCTION firetwin.assign_grid_self() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'ordinary' THEN
        NEW.grid_id := NEW.id;
    ELSE
        NEW.grid_id := firetwin.grid_for(NEW.geom);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER trg_grid_self BEFORE INSERT OR UPDATE OF geom, kind ON firetwin.grid
    FOR EACH ROW EXECUTE FUNCTION firetwin.assign_grid_self();

CREATE TRIGGER trg_region_grid_insert BEFORE INSERT ON firetwin.region
    FOR EACH ROW WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_region_grid_update BEFORE UPDATE OF geom ON firetwin.region
    FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM OLD.geom) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_building_grid_insert BEFORE INSERT ON firetwin.building
    FOR EACH ROW WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_building_grid_update BEFORE UPDATE OF geom ON firetwin.building
    FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM OLD.geom) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_unit_grid_insert BEFORE INSERT ON firetwin.unit
    FOR EACH ROW WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_unit_grid_update BEFORE UPDATE OF geom ON firetwin.unit
    FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM OLD.geom) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_facility_grid_insert BEFORE INSERT ON firetwin.facility
    FOR EACH ROW WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_facility_grid_update BEFORE UPDATE OF geom ON firetwin.facility
    FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM OLD.geom) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_hazard_grid_insert BEFORE INSERT ON firetwin.hazard
    FOR EACH ROW WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_hazard_grid_update BEFORE UPDATE OF geom ON firetwin.hazard
    FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM OLD.geom) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_hazard_event_grid_insert BEFORE INSERT ON firetwin.hazard_event
    FOR EACH ROW WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_hazard_event_grid_update BEFORE UPDATE OF geom ON firetwin.hazard_event
    FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM OLD.geom) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_inspection_grid_insert BEFORE INSERT ON firetwin.inspection
    FOR EACH ROW WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_inspection_grid_update BEFORE UPDATE OF geom ON firetwin.inspection
    FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM OLD.geom) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_station_grid_insert BEFORE INSERT ON firetwin.station
    FOR EACH ROW WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_station_grid_update BEFORE UPDATE OF geom ON firetwin.station
    FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM OLD.geom) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_sensor_grid_insert BEFORE INSERT ON firetwin.sensor
    FOR EACH ROW WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_sensor_grid_update BEFORE UPDATE OF geom ON firetwin.sensor
    FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM OLD.geom) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_incident_grid_insert BEFORE INSERT ON firetwin.incident
    FOR EACH ROW WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_incident_grid_update BEFORE UPDATE OF geom ON firetwin.incident
    FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM OLD.geom) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_hot_work_permit_grid_insert BEFORE INSERT ON firetwin.hot_work_permit
    FOR EACH ROW WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_hot_work_permit_grid_update BEFORE UPDATE OF geom ON firetwin.hot_work_permit
    FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM OLD.geom) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_road_edge_grid_insert BEFORE INSERT ON firetwin.road_edge
    FOR EACH ROW WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_road_edge_grid_update BEFORE UPDATE OF geom ON firetwin.road_edge
    FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM OLD.geom) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_risk_score_grid_insert BEFORE INSERT ON firetwin.risk_score
    FOR EACH ROW WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL) EXECUTE FUNCTION firetwin.assign_grid();
CREATE TRIGGER trg_risk_score_grid_update BEFORE UPDATE OF geom ON firetwin.risk_score
    FOR EACH ROW WHEN (NEW.geom IS DISTINCT FROM OLD.geom) EXECUTE FUNCTION firetwin.assign_grid();

-- Readings: append-mostly time series, BRIN on time, B-tree for per-sensor windows.
CREATE INDEX ix_sensor_reading_observed_brin ON firetwin.sensor_reading USING brin (observed_at);
CREATE INDEX ix_sensor_reading_sensor_time ON firetwin.sensor_reading (sensor_id, observed_at DESC);

-- Metric proximity queries (ST_DWithin on geography) use these.
CREATE INDEX ix_unit_geog ON firetwin.unit USING gist ((geom::geography));
CREATE INDEX ix_facility_geog ON firetwin.facility USING gist ((geom::geography));
CREATE INDEX ix_station_geog ON firetwin.station USING gist ((geom::geography));
CREATE INDEX ix_hazard_geog ON firetwin.hazard USING gist ((geom::geography));

INSERT INTO firetwin.role (name, description) VALUES
    ('admin', 'Administrator: everything, everywhere'),
    ('dispatcher', 'Command centre dispatcher: whole district, live picture and dispatch'),
    ('planner', 'Planner (消安委, street, brigade): analysis, coverage, what-if, read-only'),
    ('street_officer', 'Street/town office: the grids of its street'),
    ('grid_worker', 'Grid worker (网格员): own grids, reports and patrols'),
    ('inspector', 'Fire inspector (消防巡查员): inspections in assigned grids'),
    ('unit_manager', 'Unit safety manager: own unit only'),
    ('public', 'Member of the public: own reports and published rectified hazards');

-- Ground truth of the demo district; never read by the risk model.
CREATE SCHEMA IF NOT EXISTS demo_truth;
CREATE TABLE demo_truth.unit_propensity (
    unit_id integer PRIMARY KEY REFERENCES firetwin.unit (id) ON DELETE CASCADE,
    p_fire double precision NOT NULL CHECK (p_fire >= 0 AND p_fire <= 1),
    log_odds double precision,
    drivers jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE TABLE demo_truth.generation (
    id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    seed integer NOT NULL,
    scale double precision NOT NULL,
    generated_at timestamptz NOT NULL DEFAULT now(),
    counts jsonb NOT NULL
);
