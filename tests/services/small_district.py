"""A small committed district for workflow and access tests: two streets, three communities,
three grids, a building with a unit, a road edge, and one user of every role.

Layout (lon 120.50–120.70, lat 30.00–30.10)::

    street 西屯街道 (S1)            | street 东湖街道 (S2)
    C1 (G1) 120.50–120.55 | C2 (G2) | C3 (G3) 120.60–120.70

Building B1 (with unit U1) and a road edge are in G1; unit U2 is in G2; unit U3 in G3.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import psycopg
from shapely.geometry import LineString, Point, box

from gis.bulk import copy_frame
from services.auth import mint_token

#: user id by role name used in tests
USERS = {
    "admin": (1, "admin", None, None),
    "dispatcher": (2, "dispatcher", None, None),
    "planner": (3, "planner", None, None),
    "street_officer": (4, "street_officer", 2, None),  # street S1 (region 2)
    "community_admin": (5, "community_admin", 4, None),  # community C1 (region 4)
    "grid_worker": (6, "grid_worker", None, None),  # grid G1
    "grid_worker_g2": (7, "grid_worker", None, None),  # grid G2
    "unit_manager": (8, "unit_manager", None, 1),  # unit U1
    "inspector": (9, "inspector", None, None),  # grids G1, G2
    "street_officer_s2": (10, "street_officer", 3, None),  # street S2 (region 3)
}

IN_G1 = (120.52, 30.05)  # inside building B1 (unit U1)
IN_G1_OPEN = (120.535, 30.02)  # in G1, outside any building
IN_G2 = (120.57, 30.05)
IN_G3 = (120.65, 30.05)
OUTSIDE = (121.5, 31.5)


def build(url: str) -> None:
    """Load the district into a migrated, empty database."""
    with psycopg.connect(url) as conn:
        copy_frame(conn, "region", gpd.GeoDataFrame(
            {"id": [1, 2, 3, 4, 5, 6], "code": ["D", "S1", "S2", "C1", "C2", "C3"],
             "name": ["示范区", "西屯街道", "东湖街道", "一社区", "二社区", "三社区"],
             "level": ["district", "street", "street", "community", "community", "community"],
             "parent_id": pd.array([None, 1, 1, 2, 2, 3], dtype="Int64")},
            geometry=[box(120.50, 30.00, 120.70, 30.10), box(120.50, 30.00, 120.60, 30.10),
                      box(120.60, 30.00, 120.70, 30.10), box(120.50, 30.00, 120.55, 30.10),
                      box(120.55, 30.00, 120.60, 30.10), box(120.60, 30.00, 120.70, 30.10)],
            crs=4326))
        for uid, (_, role, region, unit) in enumerate(USERS.values(), start=1):
            del unit
            conn.execute(
                "INSERT INTO firetwin.app_user (id, username, display_name, role, phone, "
                "region_id) VALUES (%s, %s, %s, %s, %s, %s)",
                (uid, list(USERS)[uid - 1], f"用户{uid}", role, f"1380000{uid:04d}", region))
        copy_frame(conn, "grid", gpd.GeoDataFrame(
            {"id": [1, 2, 3], "code": ["G1", "G2", "G3"], "name": ["一网格", "二网格", "三网格"],
             "kind": ["ordinary"] * 3, "community_id": [4, 5, 6], "street_id": [2, 2, 3],
             "worker_user_id": pd.array([6, 7, None], dtype="Int64")},
            geometry=[box(120.50, 30.00, 120.55, 30.10), box(120.55, 30.00, 120.60, 30.10),
                      box(120.60, 30.00, 120.70, 30.10)], crs=4326))
        copy_frame(conn, "building", gpd.GeoDataFrame(
            {"id": [1], "name": ["一号楼"], "use": ["commercial"], "floors": [3]},
            geometry=[box(120.5195, 30.0495, 120.5205, 30.0505)], crs=4326))
        copy_frame(conn, "unit", gpd.GeoDataFrame(
            {"id": [1, 2, 3], "code": ["U1", "U2", "U3"], "name": ["一号店", "二号店", "三号店"],
             "category": ["small_place", "general", "general"],
             "small_place_type": ["small_shop", None, None], "building_id": pd.array([1, None, None], dtype="Int64"),
             "responsible_person": ["张三丰", "李四", "王五"],
             "responsible_phone": ["13912345678", "13900000002", "13900000003"]},
            geometry=[Point(120.5201, 30.0501), Point(*IN_G2), Point(*IN_G3)], crs=4326))
        conn.execute("UPDATE firetwin.app_user SET unit_id = 1 WHERE id = 8")
        conn.execute("INSERT INTO firetwin.user_grid VALUES (6, 1), (7, 2), (9, 1), (9, 2)")
        copy_frame(conn, "road_edge", gpd.GeoDataFrame(
            {"id": [1], "source": [1], "target": [2], "cost": [30.0], "reverse_cost": [30.0],
             "length_m": [250.0], "speed_kph": [30.0], "road_class": ["service"],
             "width_m": [6.0]},
            geometry=[LineString([(120.530, 30.0501), (120.5326, 30.0501)])], crs=4326))


def token(key: str, who: str) -> dict[str, str]:
    """Authorization header for a user of ``USERS`` (none for "public")."""
    if who == "public":
        return {}
    uid = list(USERS).index(who) + 1
    return {"Authorization": "Bearer " + mint_token(key, user_id=uid, role=USERS[who][1])}
