"""GeoJSON / GeoPackage / CSV importers on a real PostGIS: round trips, reprojection, bad input."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from shapely.geometry import Point, Polygon, box

from gis import vocab
from gis.bulk import copy_frame
from gis.errors import InvalidInputError
from gis.grid import cells_for_points
from gis.io import ImportRejectedError, import_csv, import_vector
from gis.io.load import TableLoader
from gis.io.report import ImportReport

pytestmark = pytest.mark.postgis

LON, LAT = 118.95, 42.27


@pytest.fixture
def db(conn):
    conn.execute("SELECT 1")  # open the test's transaction: imports run in a savepoint in it
    grids = gpd.GeoDataFrame(
        {"code": ["G-W", "G-E"], "name": ["西网格", "东网格"], "kind": ["ordinary", "ordinary"]},
        geometry=[
            box(LON - 0.1, LAT - 0.1, LON, LAT + 0.1),
            box(LON, LAT - 0.1, LON + 0.1, LAT + 0.1),
        ],
        crs=4326,
    )
    copy_frame(conn, "grid", grids)
    return conn


def units(n: int = 5, **extra) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(1)
    lon = LON + rng.uniform(-0.09, 0.09, n)
    lat = LAT + rng.uniform(-0.09, 0.09, n)
    data = {
        "code": [f"U-{i:03d}" for i in range(n)],
        "name": [f"红山小吃店{i}号" for i in range(n)],
        "category": ["small_place"] * n,
        "colour_code": ["green", "yellow", "red", "green", "green"][:n] + ["green"] * (n - 5),
    }
    data.update(extra)
    return gpd.GeoDataFrame(
        data, geometry=[Point(x, y) for x, y in zip(lon, lat, strict=True)], crs=4326
    )


def count(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM firetwin.{table}").fetchone()[0]


def rows(conn, sql: str):
    return conn.execute(sql).fetchall()


# --------------------------------------------------------------------------- round trips


def test_geojson_in_3857_is_reprojected_indexed_and_gridded(db, tmp_path):
    src = units(5)
    path = tmp_path / "units.geojson"
    src.to_crs(3857).to_file(path, driver="GeoJSON")
    assert pyogrio.read_info(path)["crs"] == "EPSG:3857"
    report = import_vector(db, path, table="unit")
    assert report.loaded == {"unit": 5}
    assert report.rejected == []
    got = rows(
        db,
        "SELECT code, ST_X(geom), ST_Y(geom), h3_r9, h3_r7, h3_r11, grid_id, "
        "colour_code FROM firetwin.unit ORDER BY code",
    )
    grid_ids = dict(rows(db, "SELECT code, id FROM firetwin.grid"))
    for (_code, x, y, r9, r7, r11, grid_id, colour), pt, c in zip(
        got, src.geometry, src["colour_code"], strict=True
    ):
        assert x == pytest.approx(pt.x, abs=1e-7) and y == pytest.approx(pt.y, abs=1e-7)
        cells = cells_for_points([x], [y])  # the cells containing the point
        assert (r7, r9, r11) == (cells[7][0], cells[9][0], cells[11][0])
        assert grid_id == grid_ids["G-W" if x < LON else "G-E"]
        assert colour == c


def test_gpkg_in_cgcs2000_with_layers(db, tmp_path):
    path = tmp_path / "data.gpkg"
    units(3).set_crs(4490, allow_override=True).to_file(path, layer="units", driver="GPKG")
    units(2).to_file(path, layer="other", driver="GPKG")
    with pytest.raises(InvalidInputError, match=r"several layers.*layer="):
        import_vector(db, path, table="unit")
    with pytest.raises(InvalidInputError, match="no layer 'nope'"):
        import_vector(db, path, table="unit", layer="nope")
    report = import_vector(db, path, table="unit", layer="units")
    assert report.loaded == {"unit": 3}
    assert rows(
        db, "SELECT count(*) FROM firetwin.unit WHERE grid_id IS NOT NULL AND h3_r9 IS NOT NULL"
    ) == [(3,)]


def test_buildings_grids_regions_and_facilities(db, tmp_path):
    poly = box(LON - 0.05, LAT - 0.05, LON - 0.049, LAT - 0.049)
    b = gpd.GeoDataFrame(
        {"name": ["一号楼"], "use": ["residential"], "floors": [10], "height_m": [30.5]},
        geometry=[poly],
        crs=4326,
    )
    b.to_file(tmp_path / "b.geojson", driver="GeoJSON")
    assert import_vector(db, tmp_path / "b.geojson", table="building").loaded == {"building": 1}
    assert rows(
        db,
        "SELECT GeometryType(geom), floors, height_m, grid_id IS NOT NULL FROM firetwin.building",
    ) == [("MULTIPOLYGON", 10, 30.5, True)]

    g = gpd.GeoDataFrame(
        {"code": ["G-S"], "name": ["市场网格"], "kind": ["market"]},
        geometry=[box(LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01)],
        crs=4326,
    )
    g.to_file(tmp_path / "g.gpkg", driver="GPKG")
    assert import_vector(db, tmp_path / "g.gpkg", table="grid").loaded == {"grid": 1}

    r = gpd.GeoDataFrame(
        {"code": ["R1"], "name": ["红山区"], "level": ["district"]},
        geometry=[box(LON - 0.1, LAT - 0.1, LON + 0.1, LAT + 0.1)],
        crs=4326,
    )
    r.to_file(tmp_path / "r.geojson", driver="GeoJSON")
    assert import_vector(db, tmp_path / "r.geojson", table="region").loaded == {"region": 1}

    path = tmp_path / "h.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [LON + 0.01, LAT]},
                        "properties": {
                            "code": "H-1",
                            "kind": "hydrant",
                            "properties": {"pressure_mpa": 0.3},
                        },
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    assert import_vector(db, path, table="facility").loaded == {"facility": 1}
    assert rows(db, "SELECT kind, status, properties FROM firetwin.facility") == [
        ("hydrant", "in_service", {"pressure_mpa": 0.3})
    ]


def test_explicit_ids_advance_the_sequence(db, tmp_path):
    frame = gpd.GeoDataFrame(
        {"id": [100, 101], "name": ["甲楼", "乙楼"]},
        geometry=[
            box(LON, LAT, LON + 0.001, LAT + 0.001),
            box(LON, LAT + 0.01, LON + 0.001, LAT + 0.011),
        ],
        crs=4326,
    )
    frame.to_file(tmp_path / "b.gpkg", driver="GPKG")
    assert import_vector(db, tmp_path / "b.gpkg", table="building").loaded == {"building": 2}
    (new_id,) = db.execute(
        "INSERT INTO firetwin.building (geom, h3_r7, h3_r9, h3_r11) VALUES "
        "(ST_Multi(ST_MakeEnvelope(118.9, 42.2, 118.91, 42.21, 4326)), 1, 1, 1) RETURNING id"
    ).fetchone()
    assert new_id == 102


def test_column_mapping_and_extra_columns(db, tmp_path):
    src = units(3).rename(columns={"code": "编号", "name": "名称", "category": "类别"})
    src["备注"] = "x"
    path = tmp_path / "u.gpkg"
    src.to_file(path, driver="GPKG")
    mapping = {"编号": "code", "名称": "name", "类别": "category"}
    with pytest.raises(InvalidInputError, match=r"'备注' are not columns of unit.*ignore_extra"):
        import_vector(db, path, table="unit", columns=mapping)
    with pytest.raises(InvalidInputError, match="mapping names 'nope'"):
        import_vector(db, path, table="unit", columns={**mapping, "nope": "name"})
    with pytest.raises(InvalidInputError, match="targets 'colour'"):
        import_vector(db, path, table="unit", columns={**mapping, "备注": "colour"})
    assert count(db, "unit") == 0
    report = import_vector(db, path, table="unit", columns=mapping, ignore_extra=True)
    assert report.loaded == {"unit": 3}
    assert report.dropped_columns == ["备注"]
    assert rows(db, "SELECT code, name FROM firetwin.unit ORDER BY code")[0] == (
        "U-000",
        "红山小吃店0号",
    )


def test_missing_required_column_is_refused(db, tmp_path):
    path = tmp_path / "u.geojson"
    units(2).drop(columns="category").to_file(path, driver="GeoJSON")
    with pytest.raises(InvalidInputError, match=r"required column.*category"):
        import_vector(db, path, table="unit")
    assert count(db, "unit") == 0


def test_unknown_table_and_broken_files(db, tmp_path):
    path = tmp_path / "u.geojson"
    units(1).to_file(path, driver="GeoJSON")
    with pytest.raises(InvalidInputError, match="unknown table 'units'"):
        import_vector(db, path, table="units")
    broken = tmp_path / "broken.gpkg"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00garbage" * 100)
    with pytest.raises(InvalidInputError, match=r"broken\.gpkg"):
        import_vector(db, broken, table="unit")
    truncated = tmp_path / "t.geojson"
    truncated.write_text('{"type": "FeatureCollection", "features": [{"type": "Fea', "utf-8")
    with pytest.raises(InvalidInputError, match=r"t\.geojson"):
        import_vector(db, truncated, table="unit")
    with pytest.raises(InvalidInputError, match="no such file"):
        import_vector(db, tmp_path / "missing.gpkg", table="unit")


# ------------------------------------------------------------------------------ CRS


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_file_without_crs_is_refused_unless_assume_crs(db, tmp_path):
    path = tmp_path / "nocrs.gpkg"
    src = units(2).to_crs(32650)
    src.set_crs(None, allow_override=True).to_file(path, driver="GPKG")
    assert pyogrio.read_info(path)["crs"] is None
    with pytest.raises(InvalidInputError, match="declares no coordinate reference system"):
        import_vector(db, path, table="unit")
    assert count(db, "unit") == 0
    report = import_vector(db, path, table="unit", assume_crs="EPSG:32650")
    assert report.loaded == {"unit": 2}
    x, y = rows(db, "SELECT ST_X(geom), ST_Y(geom) FROM firetwin.unit ORDER BY code")[0]
    assert (x, y) == (pytest.approx(units(2).geometry[0].x), pytest.approx(units(2).geometry[0].y))


def test_wrong_crs_gives_out_of_range_coordinates(db, tmp_path):
    path = tmp_path / "wrong.geojson"
    projected = units(3).to_crs(32650)  # metres, but written as if they were lon/lat
    projected.set_crs(4326, allow_override=True).to_file(path, driver="GeoJSON")
    with pytest.raises(
        InvalidInputError, match=r"feature 0 \(code=U-000\).*outside the longitude/lat"
    ):
        import_vector(db, path, table="unit")
    assert count(db, "unit") == 0


# --------------------------------------------------------------------- row problems


def test_invalid_geometry_names_the_feature_and_stores_nothing(db, tmp_path):
    bow_tie = Polygon([(LON, LAT), (LON + 0.01, LAT + 0.01), (LON + 0.01, LAT), (LON, LAT + 0.01)])
    ok = box(LON, LAT, LON + 0.001, LAT + 0.001)
    frame = gpd.GeoDataFrame(
        {"id": [7, 8], "name": ["好楼", "坏楼"]}, geometry=[ok, bow_tie], crs=4326
    )
    path = tmp_path / "b.gpkg"
    frame.to_file(path, driver="GPKG")
    with pytest.raises(
        ImportRejectedError, match=r"feature 1 \(id=8\): invalid geometry \(Self-int"
    ):
        import_vector(db, path, table="building")
    assert count(db, "building") == 0
    line = gpd.GeoDataFrame(
        {"code": ["U1"], "name": ["线"], "category": ["general"]},
        geometry=[box(0, 0, 1, 1).boundary],
        crs=4326,
    )
    line.to_file(tmp_path / "l.geojson", driver="GeoJSON")
    with pytest.raises(InvalidInputError, match="LineString where POINT is required"):
        import_vector(db, tmp_path / "l.geojson", table="unit")


def test_vocabulary_types_and_lengths_are_checked_before_copy(db, tmp_path):
    src = units(4)
    src.loc[1, "category"] = "shop"
    src.loc[2, "colour_code"] = "purple"
    src["employees"] = ["12", "many", "3", "4"]
    src.loc[3, "code"] = "X" * 40
    path = tmp_path / "u.gpkg"
    src.to_file(path, driver="GPKG")
    with pytest.raises(ImportRejectedError) as err:
        import_vector(db, path, table="unit")
    msg = str(err.value)
    assert (
        "feature 1 (code=U-001): category 'shop' is not one of: " + ", ".join(vocab.UNIT_CATEGORIES)
        in msg
    )
    assert "nothing was stored" in msg and "2 more invalid rows" in msg
    reasons = {r.index: r.reason for r in err.value.rejections}
    assert "employees 'many' is not an integer" in reasons[1]
    assert "colour_code 'purple' is not one of: red, yellow, green" in reasons[2]
    assert "code is 40 characters long, at most 32 allowed" in reasons[3]
    assert count(db, "unit") == 0


def test_duplicates_in_file_and_in_table(db, tmp_path):
    src = units(3)
    src.loc[2, "code"] = "U-000"
    src.to_file(tmp_path / "d.geojson", driver="GeoJSON")
    with pytest.raises(
        ImportRejectedError, match=r"feature 2 \(code=U-000\): code 'U-000' appears more"
    ):
        import_vector(db, tmp_path / "d.geojson", table="unit")
    units(2).to_file(tmp_path / "a.geojson", driver="GeoJSON")
    import_vector(db, tmp_path / "a.geojson", table="unit")
    with pytest.raises(
        ImportRejectedError, match=r"\(code=U-000\): code 'U-000' already exists in unit"
    ):
        import_vector(db, tmp_path / "a.geojson", table="unit")
    assert count(db, "unit") == 2


def test_foreign_keys_are_checked(db, tmp_path):
    src = units(2, building_id=[None, 999])
    src.to_file(tmp_path / "f.gpkg", driver="GPKG")
    with pytest.raises(ImportRejectedError, match="building_id 999 does not exist in building"):
        import_vector(db, tmp_path / "f.gpkg", table="unit")


def test_skip_invalid_reports_and_loads_the_rest(db, tmp_path):
    src = units(5)
    src.loc[1, "category"] = "nope"
    src.loc[3, "geometry"] = Point(500_000, 4_600_000)
    src.to_file(tmp_path / "s.gpkg", driver="GPKG")
    report = import_vector(db, tmp_path / "s.gpkg", table="unit", skip_invalid=True)
    assert report.loaded == {"unit": 3}
    assert [(r.index, r.ident) for r in report.rejected] == [(1, "U-001"), (3, "U-003")]
    assert "category 'nope' is not one of" in report.rejected[0].reason
    assert "outside the longitude/latitude range" in report.rejected[1].reason
    assert rows(db, "SELECT code FROM firetwin.unit ORDER BY code") == [
        ("U-000",),
        ("U-002",),
        ("U-004",),
    ]


def test_chunked_read_names_features_by_file_index(db, tmp_path):
    src = units(25)
    src.loc[23, "category"] = "bad"
    src.to_file(tmp_path / "c.gpkg", driver="GPKG")
    with pytest.raises(ImportRejectedError, match=r"feature 23 \(code=U-023\)"):
        import_vector(db, tmp_path / "c.gpkg", table="unit", chunk_rows=10)
    assert count(db, "unit") == 0
    seen = []
    report = import_vector(
        db,
        tmp_path / "c.gpkg",
        table="unit",
        chunk_rows=10,
        skip_invalid=True,
        progress=lambda step, done, total: seen.append((step, done, total)),
    )
    assert report.loaded == {"unit": 24}
    assert ("reading c.gpkg", 25, 25) in seen


def test_bulk_mode_restores_indexes_and_constraints(db):
    def catalogue():
        idx = rows(
            db,
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'firetwin' "
            "AND tablename = 'unit' ORDER BY 1",
        )
        con = rows(
            db,
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'firetwin.unit'::regclass ORDER BY 1",
        )
        return idx, con

    before = catalogue()
    report = ImportReport(source="test")
    with TableLoader(db, "unit", report=report, expected_rows=10, bulk_min_rows=5) as loader:
        assert loader.bulk
        assert len(catalogue()[0]) < len(before[0])
        loader.add(units(10))
        loader.finish()
    assert catalogue() == before
    assert report.loaded == {"unit": 10}
    assert rows(db, "SELECT count(*) FROM firetwin.unit WHERE grid_id IS NOT NULL") == [(10,)]


# ---------------------------------------------------------------------------------- CSV


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_lon_lat_round_trip(db, tmp_path):
    path = write(
        tmp_path / "u.csv",
        (
            "code,name,category,colour_code,lon,lat,employees\n"
            f"007,红山小吃店,small_place,red,{LON - 0.01},{LAT},3\n"
            f'008,"新华超市, 二店",key_unit,green,{LON + 0.01},{LAT},\n'
        ),
    )
    report = import_csv(db, path, table="unit")
    assert report.loaded == {"unit": 2}
    got = rows(
        db,
        "SELECT u.code, u.name, u.employees, g.code, ST_X(u.geom) FROM firetwin.unit u "
        "JOIN firetwin.grid g ON g.id = u.grid_id ORDER BY u.code",
    )
    assert got == [
        ("007", "红山小吃店", 3, "G-W", pytest.approx(LON - 0.01)),
        ("008", "新华超市, 二店", None, "G-E", pytest.approx(LON + 0.01)),
    ]


def test_csv_column_names_and_crs(db, tmp_path):
    x, y = gpd.GeoSeries([Point(LON + 0.02, LAT + 0.02)], crs=4326).to_crs(3857).iloc[0].coords[0]
    xy = write(tmp_path / "xy.csv", f"code,name,category,X,Y\nS1,甲,general,{x},{y}\n")
    with pytest.raises(InvalidInputError, match="carry no CRS; pass assume_crs"):
        import_csv(db, xy, table="unit")
    assert import_csv(db, xy, table="unit", assume_crs="EPSG:3857").loaded == {"unit": 1}
    assert rows(db, "SELECT ST_X(geom), ST_Y(geom) FROM firetwin.unit") == [
        (pytest.approx(LON + 0.02), pytest.approx(LAT + 0.02))
    ]
    ll = write(
        tmp_path / "ll.csv", f"code;name;category;Longitude;Latitude\nS2;乙;general;{LON};{LAT}\n"
    )
    assert import_csv(db, ll, table="unit", delimiter=";", assume_crs=4490).loaded == {"unit": 1}
    named = write(tmp_path / "n.csv", f"code,name,category,经度,纬度\nS3,丙,general,{LON},{LAT}\n")
    with pytest.raises(InvalidInputError, match="no coordinate columns found"):
        import_csv(db, named, table="unit")
    assert import_csv(db, named, table="unit", lon="经度", lat="纬度").loaded == {"unit": 1}
    wkt = write(
        tmp_path / "w.csv",
        (
            "code,name,kind,wkt\n"
            'G9,九网格,ordinary,"POLYGON((118.9 42.2,118.91 42.2,118.91 42.21,118.9 42.2))"\n'
        ),
    )
    assert import_csv(db, wkt, table="grid", geometry_column="wkt", assume_crs=4326).loaded == {
        "grid": 1
    }


def test_csv_bad_rows_are_named_by_row_and_line(db, tmp_path):
    path = write(
        tmp_path / "bad.csv",
        (
            "code,name,category,lon,lat\n"
            f"A1,甲,general,{LON},{LAT}\n"
            f"A2,,general,{LON},{LAT}\n"
            f"A3,丙,general,abc,{LAT}\n"
            f"A4,丁,small_place,{LON},95\n"
        ),
    )
    with pytest.raises(ImportRejectedError) as err:
        import_csv(db, path, table="unit")
    assert str(err.value).startswith("unit row 1 (line 3) (code=A2): name is required")
    reasons = {r.index: r.reason for r in err.value.rejections}
    assert reasons[2] == f"lon/lat ('abc', '{LAT}') are not numbers"
    assert "outside the longitude/latitude range" in reasons[3]
    assert count(db, "unit") == 0
    report = import_csv(db, path, table="unit", skip_invalid=True)
    assert report.loaded == {"unit": 1} and len(report.rejected) == 3


def test_csv_broken_and_wrong_encoding(db, tmp_path):
    ragged = write(
        tmp_path / "r.csv", f"code,name,category,lon,lat\nA,甲,general,{LON},{LAT},x,y\n"
    )
    with pytest.raises(InvalidInputError, match="cannot parse the CSV"):
        import_csv(db, ragged, table="unit")
    gbk = write(
        tmp_path / "g.csv", f"code,name,category,lon,lat\nA,红山,general,{LON},{LAT}\n", "gbk"
    )
    with pytest.raises(InvalidInputError, match=r"not utf-8-sig text.*encoding="):
        import_csv(db, gbk, table="unit")
    assert import_csv(db, gbk, table="unit", encoding="gbk").loaded == {"unit": 1}
    assert rows(db, "SELECT name FROM firetwin.unit") == [("红山",)]
    empty = write(tmp_path / "e.csv", "")
    with pytest.raises(InvalidInputError, match="empty file"):
        import_csv(db, empty, table="unit")
    assert count(db, "unit") == 1


def test_database_errors_name_the_row_and_store_nothing(db):
    # bypass the Python checks: the database's own CHECK must still be reported by row
    frame = units(3)
    frame.loc[2, "category"] = "zzz"
    with pytest.raises(
        InvalidInputError,
        match=r"database refused the input at feature 12 "
        r"\(code=U-002\).*ck_unit_category_valid",
    ):
        with db.transaction(), TableLoader(db, "unit", report=ImportReport(source="t")) as loader:
            loader._submit(frame.set_axis([10, 11, 12]), lambda p: ("code", f"U-{p:03d}"))
            loader.finish()
    assert count(db, "unit") == 0


def test_timestamps_and_arrays_load_through_the_csv_fallback(db, tmp_path):
    path = write(
        tmp_path / "h.csv",
        (
            "code,category,subcategory,tier,source,title,reported_at,photos,lon,lat\n"
            f"H1,ebike,ebike_indoor_charging,red,public,楼道充电,2026-03-01T08:30:00+08:00,"
            f'"[""a.jpg"", ""b.jpg""]",{LON},{LAT}\n'
            f"H2,gas,gas_leak,blue,sensor,燃气泄漏,2026-03-02 10:00:00Z,,{LON},{LAT}\n"
            f"H3,gas,gas_leak,blue,sensor,燃气泄漏,yesterday,,{LON},{LAT}\n"
        ),
    )
    with pytest.raises(
        ImportRejectedError,
        match=r"row 2 \(line 4\) \(code=H3\): reported_at "
        r"'yesterday' is not an ISO 8601 date/time",
    ):
        import_csv(db, path, table="hazard")
    report = import_csv(db, path, table="hazard", skip_invalid=True)
    assert report.loaded == {"hazard": 2}
    got = rows(
        db,
        "SELECT code, reported_at AT TIME ZONE 'UTC', photos, status FROM firetwin.hazard "
        "ORDER BY code",
    )
    assert [(c, str(t), p, s) for c, t, p, s in got] == [
        ("H1", "2026-03-01 00:30:00", ["a.jpg", "b.jpg"], "reported"),
        ("H2", "2026-03-02 10:00:00", [], "reported"),
    ]


def test_binary_copy_encoding_layout():
    import struct

    import pandas as pd
    import shapely

    from gis.io.pgcopy import encode_rows

    frame = pd.DataFrame(
        {
            "code": ["A", None, "丙"],
            "n": pd.array([1, None, 3], dtype="Int64"),
            "x": [1.5, np.nan, -2.0],
            "ok": [True, None, False],
            "props": [{"a": 1}, None, []],
            "geom": [shapely.to_wkb(Point(1, 2)), None, shapely.to_wkb(Point(3, 4))],
        }
    )
    udts = {
        "code": "varchar",
        "n": "int4",
        "x": "float8",
        "ok": "bool",
        "props": "jsonb",
        "geom": "geometry",
    }
    buf, pos, rows = encode_rows(frame, udts), 0, []
    for _ in range(3):
        (k,) = struct.unpack_from("!h", buf, pos)
        pos += 2
        row = []
        for _ in range(k):
            (size,) = struct.unpack_from("!i", buf, pos)
            pos += 4
            row.append(None if size == -1 else buf[pos : pos + size])
            pos += max(size, 0)
        rows.append(row)
    assert pos == len(buf)
    assert rows[1] == [None] * 6
    code, n, x, ok, props, geom = rows[2]
    assert code.decode() == "丙" and struct.unpack("!i", n) == (3,)
    assert struct.unpack("!d", x) == (-2.0,) and ok == b"\x00" and props == b"\x01[]"
    assert shapely.from_wkb(geom).equals(Point(3, 4))
    assert rows[0][4] == b'\x01{"a": 1}' and rows[0][3] == b"\x01"
