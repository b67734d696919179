"""People who use FireTwin: staff, grid workers, street officers, inspectors, community
administrators, unit managers.

One grid worker per ordinary grid (seed 001: 531 grid workers), two street officers and two
inspectors per street or town (seed 001: 26 patrollers for 13 streets and towns), who see all
grids of their street; a manager account for every key unit and some other units. The first
district also gets the run-wide admin, dispatchers and planners. ``password_hash`` stays NULL
(authentication is set up by the services layer).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.demo import clock
from gis.demo.context import District
from gis.demo.names import person_names, phones
from gis.demo.regions import Regions


@dataclass
class Staff:
    """Users of a district and who works where (indices are positions in ``users``)."""

    users: pd.DataFrame
    user_grid: pd.DataFrame
    grid_worker: np.ndarray  # user id per ordinary grid (aligned with Regions.grids)
    officers: np.ndarray  # (n_streets, 2) user ids
    inspectors: np.ndarray  # (n_streets, 2) user ids


def _rows(
    d: District,
    n: int,
    role: str,
    usernames: list[str],
    region: np.ndarray,
    rng: np.random.Generator,
    names: np.ndarray | None = None,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": d.world.ids.take("app_user", n),
            "username": usernames,
            "display_name": person_names(rng, n) if names is None else names,
            "role": role,
            "phone": phones(rng, n),
            "password_hash": None,
            "region_id": pd.array(region, dtype="Int64"),
            "unit_id": pd.array([None] * n, dtype="Int64"),
            "active": True,
            "created_at": clock.timestamps(
                clock.START_S - 30 * clock.DAY + rng.integers(0, 400, n) * clock.DAY
            ),
        }
    )


def build_staff(d: District, r: Regions, special: gpd.GeoDataFrame) -> Staff:
    """Staff accounts of district ``d`` and their grid scopes."""
    rng = d.rng("users")
    district_id = int(r.region_frame["id"].iloc[0])
    parts = []
    if d.index == 0:
        top = [
            ("admin", "admin"),
            ("dispatcher", "dispatcher1"),
            ("dispatcher", "dispatcher2"),
            ("dispatcher", "dispatcher3"),
            ("planner", "planner1"),
            ("planner", "planner2"),
        ]
        for role, uname in top:
            parts.append(_rows(d, 1, role, [uname], np.array([district_id]), rng))
    else:
        for role in ("dispatcher", "planner"):
            parts.append(_rows(d, 1, role, [f"{role}_{d.code}"], np.array([district_id]), rng))
    ng = len(r.grids)
    gw = _rows(
        d, ng, "grid_worker", [f"gw{g}" for g in r.grid_ids], r.community_ids[r.grid_community], rng
    )
    ns = len(r.streets)
    off = _rows(
        d,
        2 * ns,
        "street_officer",
        [f"so{s}_{k}" for s in r.street_ids for k in (1, 2)],
        np.repeat(r.street_ids, 2),
        rng,
    )
    insp = _rows(
        d,
        2 * ns,
        "inspector",
        [f"insp{s}_{k}" for s in r.street_ids for k in (1, 2)],
        np.repeat(r.street_ids, 2),
        rng,
    )
    # One community administrator per community (scope: the community's grids, by region).
    ca = _rows(d, len(r.community_ids), "community_admin",
               [f"ca{c}" for c in r.community_ids], r.community_ids, rng)
    users = pd.concat([*parts, gw, off, insp, ca], ignore_index=True)
    grid_street = r.community_street[r.grid_community]
    ug = [pd.DataFrame({"user_id": gw["id"].to_numpy(), "grid_id": r.grid_ids})]
    sp_street = (
        np.searchsorted(r.street_ids, special["street_id"].to_numpy()) if len(special) else []
    )
    for s in range(ns):
        gids = np.concatenate(
            [
                r.grid_ids[grid_street == s],
                special["id"].to_numpy()[np.asarray(sp_street) == s]
                if len(special)
                else np.empty(0, dtype=np.int64),
            ]
        )
        for uid in (
            *off["id"].to_numpy()[2 * s : 2 * s + 2],
            *insp["id"].to_numpy()[2 * s : 2 * s + 2],
        ):
            ug.append(pd.DataFrame({"user_id": uid, "grid_id": gids}))
    return Staff(
        users=users,
        user_grid=pd.concat(ug, ignore_index=True),
        grid_worker=gw["id"].to_numpy(),
        officers=off["id"].to_numpy().reshape(ns, 2),
        inspectors=insp["id"].to_numpy().reshape(ns, 2),
    )


def build_unit_managers(d: District, units: gpd.GeoDataFrame) -> pd.DataFrame:
    """Manager accounts: every key unit, a quarter of small places, a tenth of the rest."""
    rng = d.rng("unit-managers")
    cat = units["category"].to_numpy()
    p = np.select([cat == "key_unit", cat == "small_place"], [1.0, 0.25], 0.1)
    take = np.flatnonzero(rng.random(len(units)) < p)
    uid = units["id"].to_numpy()[take]
    df = _rows(
        d,
        len(take),
        "unit_manager",
        [f"um{u}" for u in uid],
        np.full(len(take), None),
        rng,
        names=units["manager_person"].to_numpy()[take],
    )
    df["unit_id"] = pd.array(uid, dtype="Int64")
    df["phone"] = units["responsible_phone"].to_numpy()[take]
    return df
