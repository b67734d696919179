"""The demo district generator on a real PostGIS: structure, realism and determinism.

One small district (scale 0.05: full regions, grids and roads, 5 % of the units, buildings
and history) is generated once for the module inside a transaction that is rolled back at
the end; the determinism test regenerates inside a savepoint.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import psycopg
import pytest

from gis import demo, vocab
from gis.demo.context import ID_TABLES
from gis.errors import ConflictError

pytestmark = pytest.mark.postgis

SEED = 7
SCALE = 0.05
FEATURE_TABLES = (
    "region",
    "grid",
    "building",
    "unit",
    "facility",
    "hazard",
    "hazard_event",
    "inspection",
    "station",
    "sensor",
    "incident",
    "hot_work_permit",
    "road_edge",
)


@pytest.fixture(scope="module")
def dconn(db_url: str) -> Iterator[tuple[psycopg.Connection, dict[str, int]]]:
    """A connection holding the generated district in an open transaction."""
    with psycopg.connect(db_url) as c:
        counts = demo.generate(c, seed=SEED, scale=SCALE)
        yield c, counts
        c.rollback()


@pytest.fixture
def conn_(dconn):
    return dconn[0]


def _one(conn: psycopg.Connection, query: str, params: tuple | None = None):
    return conn.execute(query, params).fetchone()


def _digest(conn: psycopg.Connection) -> dict[str, str]:
    out = {}
    for table in (*ID_TABLES, "user_grid"):
        order = "user_id, grid_id" if table == "user_grid" else "id"
        out[table] = _one(
            conn, f"SELECT md5(string_agg(t::text, '|' ORDER BY {order})) FROM firetwin.{table} t"
        )[0]
    out["unit_propensity"] = _one(
        conn,
        "SELECT md5(string_agg(t::text, '|' ORDER BY unit_id)) FROM demo_truth.unit_propensity t",
    )[0]
    return out


# ------------------------------------------------------------------------------ structure


def test_counts_and_generation_record(dconn):
    conn, counts = dconn
    for table, n in counts.items():
        if table == "unit_propensity":
            continue
        assert _one(conn, f"SELECT count(*) FROM firetwin.{table}")[0] == n, table
    assert counts["unit"] == round(5_621 * SCALE)
    assert 0.7 * 25_000 * SCALE < counts["hazard"] < 1.3 * 25_000 * SCALE
    assert counts["road_edge"] > 3_000
    assert counts["unit_propensity"] == counts["unit"]
    seed, scale, stored = _one(conn, "SELECT seed, scale, counts FROM demo_truth.generation")
    assert (seed, scale) == (SEED, SCALE)
    assert stored == counts


def test_region_hierarchy(conn_):
    levels = dict(
        conn_.execute("SELECT level, count(*) FROM firetwin.region GROUP BY 1").fetchall()
    )
    assert levels["district"] == 1
    assert levels["street"] == 13
    assert 60 <= levels["community"] <= 100
    assert _one(conn_, "SELECT code, name FROM firetwin.region WHERE level = 'district'") == (
        "150402",
        "红山区",
    )
    bad = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.region c JOIN firetwin.region p ON p.id = c.parent_id
        WHERE left(c.code, length(p.code)) <> p.code OR length(c.code) <> length(p.code) + 3
           OR (c.level = 'street' AND p.level <> 'district')
           OR (c.level = 'community' AND p.level <> 'street')""",
    )[0]
    assert bad == 0
    names = [
        r[0] for r in conn_.execute("SELECT name FROM firetwin.region WHERE level <> 'district'")
    ]
    assert all(re.search("(街道|镇|乡|社区|村)$", n) for n in names)
    towns = _one(
        conn_, "SELECT count(*) FROM firetwin.region WHERE level = 'street' AND name LIKE '%镇'"
    )[0]
    assert towns == 2
    # Children fill their parent: areas add up.
    gap = _one(
        conn_,
        """
        SELECT max(abs(ST_Area(p.geom::geography) - s.a) / ST_Area(p.geom::geography))
        FROM firetwin.region p JOIN (
            SELECT parent_id, sum(ST_Area(geom::geography)) AS a FROM firetwin.region
            WHERE parent_id IS NOT NULL GROUP BY parent_id) s ON s.parent_id = p.id""",
    )[0]
    assert gap < 1e-6
    area = _one(conn_, "SELECT area_km2 FROM firetwin.region WHERE level = 'district'")[0]
    assert 480 < area < 530


def test_grids_tile_communities(conn_):
    n_ord, n_special = _one(
        conn_,
        """
        SELECT count(*) FILTER (WHERE kind = 'ordinary'), count(*) FILTER (WHERE kind <> 'ordinary')
        FROM firetwin.grid""",
    )
    assert 480 <= n_ord <= 620
    assert 20 <= n_special <= 35
    worst = _one(
        conn_,
        """
        SELECT max(abs(ST_Area(c.geom::geography) - g.a) / ST_Area(c.geom::geography))
        FROM firetwin.region c JOIN (
            SELECT community_id, sum(ST_Area(geom::geography)) AS a FROM firetwin.grid
            WHERE kind = 'ordinary' GROUP BY community_id) g ON g.community_id = c.id""",
    )[0]
    assert worst < 1e-6
    missing = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.region c WHERE c.level = 'community' AND NOT EXISTS (
            SELECT 1 FROM firetwin.grid g WHERE g.community_id = c.id AND g.kind = 'ordinary')""",
    )[0]
    assert missing == 0
    overlap_m2 = _one(
        conn_,
        """
        SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0)
        FROM firetwin.grid a JOIN firetwin.grid b ON a.id < b.id AND ST_Intersects(a.geom, b.geom)
        WHERE a.kind = 'ordinary' AND b.kind = 'ordinary'""",
    )[0]
    assert overlap_m2 < 10.0  # floating-point slivers only, over ~500 km²
    # Grid belongs to its community, named after its street.
    bad = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.grid g JOIN firetwin.region c ON c.id = g.community_id
        JOIN firetwin.region s ON s.id = g.street_id
        WHERE g.kind = 'ordinary' AND (c.parent_id <> s.id OR left(g.code, 12) <> c.code
              OR g.name !~ ('^' || s.name || '-[0-9]+号网格$'))""",
    )[0]
    assert bad == 0


def test_special_grids_overlap_ordinary(conn_):
    kinds = {r[0] for r in conn_.execute("SELECT DISTINCT kind FROM firetwin.grid")}
    assert kinds == set(vocab.GRID_KINDS)
    rows = conn_.execute("""
        SELECT s.grid_id, ST_Area(s.geom::geography),
               (SELECT sum(ST_Area(ST_Intersection(o.geom, s.geom)::geography)) FROM firetwin.grid o
                WHERE o.kind = 'ordinary' AND ST_Intersects(o.geom, s.geom))
        FROM firetwin.grid s WHERE s.kind <> 'ordinary'""").fetchall()
    assert all(gid is not None for gid, _, _ in rows)
    assert all(abs(a - covered) < 1e-3 * a for _, a, covered in rows)  # lies on ordinary grids


def test_every_feature_has_h3_and_grid(conn_):
    for table in FEATURE_TABLES:
        n, no_h3, no_grid = _one(
            conn_,
            f"""
            SELECT count(*),
                   count(*) FILTER (WHERE h3_r7 IS NULL OR h3_r9 IS NULL OR h3_r11 IS NULL),
                   count(*) FILTER (WHERE grid_id IS NULL) FROM firetwin.{table}""",
        )
        assert n > 0, table
        assert no_h3 == 0, table
        assert no_grid == 0, table
    # The stored grid is the one the database would choose.
    wrong = _one(
        conn_, "SELECT count(*) FROM firetwin.unit WHERE grid_id <> firetwin.grid_for(geom)"
    )[0]
    assert wrong == 0


def test_users_and_scopes(conn_):
    roles = dict(
        conn_.execute("SELECT role, count(*) FROM firetwin.app_user GROUP BY 1").fetchall()
    )
    n_ord = _one(conn_, "SELECT count(*) FROM firetwin.grid WHERE kind = 'ordinary'")[0]
    assert roles["grid_worker"] == n_ord
    assert roles["street_officer"] == roles["inspector"] == 26
    assert roles["admin"] == 1 and roles["dispatcher"] >= 1 and roles["planner"] >= 1
    assert roles["unit_manager"] >= 1
    bad = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.grid g WHERE g.kind = 'ordinary' AND NOT EXISTS (
            SELECT 1 FROM firetwin.user_grid ug JOIN firetwin.app_user u ON u.id = ug.user_id
            WHERE ug.grid_id = g.id AND u.id = g.worker_user_id AND u.role = 'grid_worker')""",
    )[0]
    assert bad == 0
    # Street officers see every grid of their street.
    bad = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.app_user u JOIN firetwin.grid g ON g.street_id = u.region_id
        WHERE u.role = 'street_officer' AND NOT EXISTS (
            SELECT 1 FROM firetwin.user_grid ug WHERE ug.user_id = u.id AND ug.grid_id = g.id)""",
    )[0]
    assert bad == 0


# ---------------------------------------------------------------------------------- roads


def test_pgr_dijkstra_crosses_the_district(conn_):
    a, b, dist_m = _one(
        conn_,
        """
        WITH n AS (SELECT n.id, n.geom FROM firetwin.road_node n
                   JOIN firetwin.road_edge e ON e.source = n.id AND e.road_class = 'trunk')
        SELECT w.id, e.id, ST_Distance(w.geom::geography, e.geom::geography)
        FROM (SELECT * FROM n ORDER BY ST_X(geom), id LIMIT 1) w,
             (SELECT * FROM n ORDER BY ST_X(geom) DESC, id LIMIT 1) e""",
    )
    assert dist_m > 10_000
    steps, cost = _one(
        conn_,
        """
        SELECT count(*), max(agg_cost) FROM pgr_dijkstra(
            'SELECT id, source, target, cost, reverse_cost FROM firetwin.road_edge', %s, %s)""",
        (a, b),
    )
    assert steps > 10
    assert dist_m / 25.0 < cost < dist_m / 2.0  # between 90 and 7 km/h on average
    back = _one(
        conn_,
        """SELECT count(*) FROM pgr_dijkstra(
        'SELECT id, source, target, cost, reverse_cost FROM firetwin.road_edge', %s, %s)""",
        (b, a),
    )[0]
    assert back > 10


def test_network_is_connected_with_a_few_isolated_bits(conn_):
    sizes = [
        r[0]
        for r in conn_.execute("""
        SELECT count(*) FROM pgr_strongComponents(
            'SELECT id, source, target, cost, reverse_cost FROM firetwin.road_edge')
        GROUP BY component ORDER BY 1 DESC""")
    ]
    assert sizes[0] > 0.99 * sum(sizes)
    assert len(sizes) <= 5
    nodes = _one(conn_, "SELECT count(*) FROM firetwin.road_node")[0]
    assert nodes == sum(sizes)


def test_road_attributes(conn_):
    bad = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.road_edge WHERE
            truck_ok <> (NOT blocked AND width_m >= 4.0 AND coalesce(maxheight_m, 99) >= 4.0)
            OR (oneway AND reverse_cost <> -1) OR (NOT oneway AND reverse_cost <> cost)
            OR abs(cost - length_m / (speed_kph / 3.6)) > 0.02
            OR abs(length_m - ST_Length(geom::geography)) > 0.05""",
    )[0]
    assert bad == 0
    stats = _one(
        conn_,
        """
        SELECT count(*) FILTER (WHERE NOT truck_ok), count(*) FILTER (WHERE width_m < 4.0),
               count(*) FILTER (WHERE maxheight_m < 4.0), count(*) FILTER (WHERE oneway),
               count(*) FILTER (WHERE is_fire_lane), count(DISTINCT road_class),
               count(*) FILTER (WHERE name IS NOT NULL)::float / count(*)
        FROM firetwin.road_edge""",
    )
    assert all(v > 0 for v in stats[:5])
    assert stats[5] == len(vocab.ROAD_CLASSES)
    assert stats[6] > 0.8
    speeds = dict(
        conn_.execute(
            "SELECT road_class, max(speed_kph) FROM firetwin.road_edge GROUP BY 1"
        ).fetchall()
    )
    assert speeds["primary"] >= 50 and speeds["lane"] <= 15
    dead_ends = _one(
        conn_,
        """
        SELECT count(*) FROM (SELECT n FROM (SELECT source AS n FROM firetwin.road_edge UNION ALL
                                             SELECT target FROM firetwin.road_edge) x
                              GROUP BY n HAVING count(*) = 1) d""",
    )[0]
    assert dead_ends > 20


# ------------------------------------------------------------------- buildings and units


def test_buildings(conn_):
    n, high, years = _one(
        conn_,
        """
        SELECT count(*),
               count(*) FILTER (WHERE (use = 'residential' AND height_m > 27) OR
                                      (use <> 'residential' AND height_m > 24)),
               array[min(built_year), max(built_year)] FROM firetwin.building""",
    )
    assert n == round(20_000 * SCALE)
    assert high > 0.05 * n
    city, towns = _one(
        conn_,
        """
        SELECT avg(hr::int) FILTER (WHERE s.name LIKE '%街道'),
               avg(hr::int) FILTER (WHERE s.name LIKE '%镇')
        FROM (SELECT b.grid_id, (b.use = 'residential' AND b.height_m > 27)
                                OR (b.use <> 'residential' AND b.height_m > 24) AS hr
              FROM firetwin.building b) x
        JOIN firetwin.grid g ON g.id = x.grid_id JOIN firetwin.region s ON s.id = g.street_id""",
    )
    assert city > 0.1
    assert towns is None or towns < city / 2
    assert 1980 <= years[0] and years[1] <= 2024
    overlaps = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.building a JOIN firetwin.building b
        ON a.id < b.id AND ST_Intersects(a.geom, b.geom)""",
    )[0]
    assert overlaps == 0
    on_roads = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.building b JOIN firetwin.road_edge e
        ON ST_Intersects(b.geom, e.geom)""",
    )[0]
    assert on_roads == 0
    ratio = _one(
        conn_, "SELECT avg(height_m / floors) FROM firetwin.building WHERE use = 'residential'"
    )[0]
    assert 2.8 < ratio < 3.4


def test_units(conn_):
    outside = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.unit u JOIN firetwin.building b ON b.id = u.building_id
        WHERE NOT ST_Intersects(u.geom, b.geom)""",
    )[0]
    assert outside == 0
    cats = dict(conn_.execute("SELECT category, count(*) FROM firetwin.unit GROUP BY 1").fetchall())
    assert set(cats) == set(vocab.UNIT_CATEGORIES)
    bad = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.unit WHERE
            (category = 'small_place') <> (small_place_type IS NOT NULL)
            OR (category = 'key_domain') <> (key_domain IS NOT NULL)
            OR (category = 'key_unit') <> (key_unit_type IS NOT NULL)
            OR qr_token !~ '^[0-9a-f]{32}$' OR responsible_phone !~ '^1[0-9]{10}$'
            OR opened_year > 2026 OR name IS NULL OR address IS NULL""",
    )[0]
    assert bad == 0
    n = sum(cats.values())
    colours = dict(
        conn_.execute("SELECT colour_code, count(*) FROM firetwin.unit GROUP BY 1").fetchall()
    )
    assert colours.get("red", 0) <= 0.04 * n
    assert 0.05 * n <= colours.get("yellow", 0) <= 0.15 * n
    assert colours["green"] >= 0.8 * n
    # Red units carry more open or recent hazards than green ones.
    red_open, green_open = _one(
        conn_,
        """
        SELECT avg(o) FILTER (WHERE colour_code = 'red'),
               avg(o) FILTER (WHERE colour_code = 'green')
        FROM (SELECT u.colour_code, count(h.id) FILTER (
                  WHERE h.reported_at > '2025-06-30' OR h.status NOT IN ('closed', 'rejected')) AS o
              FROM firetwin.unit u LEFT JOIN firetwin.hazard h ON h.unit_id = u.id
              GROUP BY u.id) s""",
    )
    assert red_open > green_open


def test_stations_vehicles_facilities_sensors(conn_):
    kinds = dict(conn_.execute("SELECT kind, count(*) FROM firetwin.station GROUP BY 1").fetchall())
    assert kinds["micro"] == 10
    assert kinds.get("level1", 0) + kinds.get("level2", 0) >= 3
    assert kinds.get("small", 0) >= 1
    no_vehicle = _one(
        conn_,
        """SELECT count(*) FROM firetwin.station s WHERE NOT EXISTS (
        SELECT 1 FROM firetwin.vehicle v WHERE v.station_id = s.id)""",
    )[0]
    assert no_vehicle == 0
    assert (
        _one(conn_, "SELECT count(*) FROM firetwin.vehicle WHERE call_sign LIKE '红山1-%'")[0] > 0
    )
    # Hydrants: dense in the core (nearest neighbour mostly within 150 m), some out of order.
    nn, faulty = _one(
        conn_,
        """
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d),
               (SELECT count(*) FROM firetwin.facility
               WHERE kind = 'hydrant' AND status IN ('faulty', 'out_of_service'))
        FROM (SELECT (SELECT ST_Distance(h.geom::geography, o.geom::geography)
                      FROM firetwin.facility o WHERE o.kind = 'hydrant' AND o.id <> h.id
                      ORDER BY h.geom <-> o.geom LIMIT 1) AS d
              FROM firetwin.facility h WHERE h.kind = 'hydrant') s""",
    )
    assert nn < 150
    assert faulty > 0
    sensor_kinds = {r[0] for r in conn_.execute("SELECT DISTINCT kind FROM firetwin.sensor")}
    assert sensor_kinds == set(vocab.SENSOR_KINDS)
    bad = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.sensor WHERE device_key_hash !~ '^[0-9a-f]{64}$'
            OR (kind = 'hydrant_pressure') <> (facility_id IS NOT NULL)""",
    )[0]
    assert bad == 0
    statuses = dict(
        conn_.execute("SELECT status, count(*) FROM firetwin.sensor GROUP BY 1").fetchall()
    )
    assert statuses["online"] > 0.8 * sum(statuses.values())
    latest = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.sensor s WHERE s.last_value IS DISTINCT FROM (
            SELECT r.value FROM firetwin.sensor_reading r WHERE r.sensor_id = s.id
            ORDER BY r.observed_at DESC LIMIT 1)""",
    )[0]
    assert latest == 0


# ---------------------------------------------------------------------------------- history


def test_hazard_timestamps_and_deadlines(conn_):
    bad = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.hazard WHERE
            verified_at < reported_at OR rectified_at < verified_at OR rechecked_at < rectified_at
            OR closed_at < rechecked_at OR (rectified_at IS NOT NULL AND verified_at IS NULL)
            OR (closed_at IS NOT NULL AND rechecked_at IS NULL)
            OR verify_due_at <> reported_at + interval '24 hours'
            OR (verified_at IS NOT NULL AND rectify_due_at - verified_at <> CASE tier
                WHEN 'blue' THEN interval '3 days' WHEN 'yellow' THEN interval '7 days'
                WHEN 'orange' THEN interval '15 days' ELSE interval '30 days' END)
            OR (status = 'closed' AND closed_at IS NULL)
            OR greatest(reported_at, verified_at, rectified_at, rechecked_at, closed_at)
               >= '2026-07-01 00:00+08'
            OR reported_at < '2021-07-01 00:00+08'""",
    )[0]
    assert bad == 0
    statuses = dict(
        conn_.execute("SELECT status, count(*) FROM firetwin.hazard GROUP BY 1").fetchall()
    )
    n = sum(statuses.values())
    assert statuses["closed"] > 0.85 * n
    assert statuses.get("rejected", 0) > 0
    assert n - statuses["closed"] - statuses.get("rejected", 0) > 0  # some still open
    late = _one(conn_, "SELECT count(*) FROM firetwin.hazard WHERE rectified_at > rectify_due_at")[
        0
    ]
    assert late > 0


def test_every_hazard_has_a_consistent_event_history(conn_):
    assert (
        _one(
            conn_,
            """SELECT count(*) FROM firetwin.hazard h WHERE NOT EXISTS (
        SELECT 1 FROM firetwin.hazard_event e WHERE e.hazard_id = h.id)""",
        )[0]
        == 0
    )
    broken = _one(
        conn_,
        """
        WITH e AS (SELECT hazard_id, at, from_status, to_status,
                          lag(to_status) OVER w AS prev, lag(at) OVER w AS prev_at,
                          row_number() OVER w AS k
                   FROM firetwin.hazard_event WINDOW w AS (PARTITION BY hazard_id ORDER BY at, id))
        SELECT count(*) FROM e
        WHERE (k = 1 AND (from_status IS NOT NULL OR to_status <> 'reported'))
           OR (k > 1 AND from_status IS DISTINCT FROM prev) OR at < prev_at""",
    )[0]
    assert broken == 0
    mismatch = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.hazard h JOIN (
            SELECT DISTINCT ON (hazard_id) hazard_id, to_status, at FROM firetwin.hazard_event
            ORDER BY hazard_id, at DESC, id DESC) e ON e.hazard_id = h.id
        WHERE e.to_status <> h.status OR e.at <> h.updated_at""",
    )[0]
    assert mismatch == 0


def test_hazard_codes_and_fields(conn_):
    codes = [r[0] for r in conn_.execute("SELECT code FROM firetwin.hazard")]
    assert len(codes) == len(set(codes))
    pat = re.compile(r"^[^-]+-[^-]+-(低|中|较高|高)-\d{6}$")
    assert all(pat.match(c) for c in codes)
    assert _one(conn_, "SELECT code FROM firetwin.hazard ORDER BY id LIMIT 1")[0].endswith(
        "-000001"
    )
    bad = _one(
        conn_,
        """
        SELECT count(*) FROM firetwin.hazard h LEFT JOIN firetwin.grid g ON g.id = h.grid_id
        WHERE (h.source = 'grid_worker' AND h.reporter_user_id IS DISTINCT FROM g.worker_user_id)
           OR (h.source = 'sensor' AND h.sensor_id IS NULL)
           OR (h.source = 'public') <> (h.tracking_code IS NOT NULL)
           OR (h.unit_id IS NOT NULL AND h.building_id IS NULL)""",
    )[0]
    assert bad == 0
    taxonomy_ok = all(
        sub in vocab.HAZARD_TAXONOMY[cat]
        for cat, sub in conn_.execute("SELECT DISTINCT category, subcategory FROM firetwin.hazard")
    )
    assert taxonomy_ok
    assert _one(conn_, "SELECT count(*) FROM firetwin.hazard WHERE unit_id IS NOT NULL")[
        0
    ] > 0.7 * len(codes)


def test_ebike_charging_and_corridor_clutter_go_together(conn_):
    rows = conn_.execute("""
        SELECT count(h.id) FILTER (WHERE h.category = 'ebike'),
               count(h.id) FILTER (WHERE h.subcategory = 'corridor_clutter')
        FROM firetwin.unit u
        LEFT JOIN firetwin.hazard h ON h.unit_id = u.id AND h.status <> 'rejected'
        GROUP BY u.id""").fetchall()
    a = np.array(rows, dtype=float)
    r = np.corrcoef(a[:, 0], a[:, 1])[0, 1]
    assert r > 0.5
    other = conn_.execute("""
        SELECT count(h.id) FILTER (WHERE h.category = 'ebike'),
               count(h.id) FILTER (WHERE h.category = 'hot_work')
        FROM firetwin.unit u LEFT JOIN firetwin.hazard h ON h.unit_id = u.id
        GROUP BY u.id""").fetchall()
    b = np.array(other, dtype=float)
    assert np.corrcoef(b[:, 0], b[:, 1])[0, 1] < r - 0.2


def test_seasons_and_hot_spots(conn_):
    winter, total = _one(
        conn_,
        """
        SELECT count(*) FILTER (WHERE extract(month FROM reported_at AT TIME ZONE 'Asia/Shanghai')
                                IN (10, 11, 12, 1, 2, 3, 4)), count(*)
        FROM firetwin.hazard WHERE subcategory = 'heating_appliance'""",
    )
    assert total > 0 and winter > 0.8 * total
    shares = [
        r[0]
        for r in conn_.execute("""
        SELECT count(h.id)::float / greatest(count(DISTINCT u.id), 1) FROM firetwin.region c
        JOIN firetwin.grid g ON g.community_id = c.id AND g.kind = 'ordinary'
        JOIN firetwin.unit u ON u.grid_id = g.id
        LEFT JOIN firetwin.hazard h ON h.unit_id = u.id
        GROUP BY c.id HAVING count(DISTINCT u.id) >= 3""")
    ]
    assert max(shares) > 2.5 * float(np.median(shares))  # hot spots


def test_inspections_work_orders_hot_work(conn_):
    n, far, bad_dist = _one(
        conn_,
        """
        SELECT count(*), count(*) FILTER (WHERE i.distance_from_unit_m > 200),
               count(*) FILTER (WHERE abs(i.distance_from_unit_m
                                          - ST_Distance(i.geom::geography, u.geom::geography)) > 1)
        FROM firetwin.inspection i JOIN firetwin.unit u ON u.id = i.unit_id""",
    )
    assert n > 0 and far > 0 and far < 0.1 * n and bad_dist == 0
    kinds = {r[0] for r in conn_.execute("SELECT DISTINCT kind FROM firetwin.inspection")}
    assert {"patrol", "inspection", "recheck"} <= kinds
    wo = {r[0] for r in conn_.execute("SELECT DISTINCT kind FROM firetwin.work_order")}
    assert "correction_order" in wo
    active = _one(
        conn_,
        """SELECT count(*) FROM firetwin.hot_work_permit
        WHERE starts_at <= '2026-07-01 00:00+08' AND ends_at > '2026-07-01 00:00+08'""",
    )[0]
    assert active >= 1


def test_incidents_follow_the_fire_propensity(conn_):
    n_units, n_prop, p_range = _one(
        conn_,
        """
        SELECT (SELECT count(*) FROM firetwin.unit), count(*), array[min(p_fire), max(p_fire)]
        FROM demo_truth.unit_propensity""",
    )
    assert n_units == n_prop
    assert 0 < p_range[0] < p_range[1] < 1
    burnt, other, n_fires = _one(
        conn_,
        """
        SELECT avg(p.p_fire) FILTER (WHERE f.unit_id IS NOT NULL),
               avg(p.p_fire) FILTER (WHERE f.unit_id IS NULL),
               count(f.unit_id)
        FROM demo_truth.unit_propensity p LEFT JOIN (
            SELECT DISTINCT unit_id FROM firetwin.incident WHERE kind = 'fire') f
        ON f.unit_id = p.unit_id""",
    )
    assert n_fires >= 3
    assert burnt > 1.5 * other
    drivers = _one(conn_, "SELECT drivers FROM demo_truth.unit_propensity LIMIT 1")[0]
    assert {"intercept", "ebike_hazards", "electrical_hazards", "management_latent"} <= set(drivers)
    lo = _one(
        conn_,
        """SELECT max(abs(log_odds - (SELECT sum(v::float) FROM jsonb_each_text(drivers)
                                                   AS j(k, v)))) FROM demo_truth.unit_propensity""",
    )[0]
    assert lo < 0.01
    kinds = {r[0] for r in conn_.execute("SELECT DISTINCT kind FROM firetwin.incident")}
    assert "fire" in kinds


def test_sequences_continue_after_the_generated_ids(conn_):
    with conn_.transaction(force_rollback=True):
        new_id = _one(
            conn_,
            """
            INSERT INTO firetwin.vehicle (station_id, call_sign, kind)
            SELECT min(id), 'TEST-1', 'pumper' FROM firetwin.station RETURNING id""",
        )[0]
        assert (
            new_id
            > _one(conn_, "SELECT max(id) FROM firetwin.vehicle WHERE call_sign <> 'TEST-1'")[0]
        )
        ev = _one(
            conn_,
            """
            INSERT INTO firetwin.hazard_event (hazard_id, at, action, to_status)
            SELECT min(id), now(), 'note', 'closed' FROM firetwin.hazard RETURNING id""",
        )[0]
        assert ev > 0


# ------------------------------------------------------------------------------ determinism


def test_refuses_a_database_that_already_has_data(conn_):
    with pytest.raises(ConflictError):
        demo.generate(conn_, seed=SEED, scale=SCALE)


def test_same_seed_same_rows_other_seed_other_rows(conn_):
    first = _digest(conn_)
    with conn_.transaction(force_rollback=True):
        demo.clear(conn_)
        demo.generate(conn_, seed=SEED, scale=SCALE)
        again = _digest(conn_)
        demo.clear(conn_)
        demo.generate(conn_, seed=SEED + 1, scale=SCALE)
        other = _digest(conn_)
    assert again == first
    differ = [t for t in first if first[t] != other[t]]
    assert {"region", "road_edge", "building", "unit", "hazard", "hazard_event"} <= set(differ)
