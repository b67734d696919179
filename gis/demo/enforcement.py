"""Work orders (notices and enforcement) and hot-work permits.

Work orders follow seed 001's mix: correction orders for serious hazards, self-inspection
notices and risk notices for middling ones, penalties, temporary seals and "three stops"
(三停) where rectification ran late. Hot-work permits (明火作业报备, seed 003) come from
workshops, factories, warehouses, malls and hotels: the last six months, some active at the
reference time, some approved for the coming week.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import vocab
from gis.demo import clock
from gis.demo.context import District
from gis.demo.geo import point_frame
from gis.demo.names import person_names
from gis.demo.rand import choice

HOT_WORK_PER_DISTRICT = 220
HOT_WORK_UNITS = (
    "small_workshop",
    "industrial_enterprise",
    "factory",
    "warehouse",
    "mall",
    "hotel",
    "small_restaurant",
    "high_rise_office",
)
NOTE = {
    "correction_order": "责令限期改正通知书",
    "self_inspection_notice": "消防安全自查建议通知书",
    "risk_notice": "重要火灾风险提示函",
    "penalty": "行政处罚决定书",
    "temporary_seal": "临时查封决定书",
    "three_stops": "责令停产停业停止使用",
}


def build_work_orders(d: District, hz: pd.DataFrame) -> pd.DataFrame:
    """Work orders tied to hazards and their units."""
    rng = d.rng("work-orders")
    n = len(hz)
    tier = hz["tier"].to_numpy()
    verified = hz["verified_at"].notna().to_numpy()
    escalated = hz["_escalated"].to_numpy()
    rows = []
    specs = [
        ("correction_order", verified & np.isin(tier, ("orange", "red")), 0.4, "_inspector", 0),
        ("self_inspection_notice", verified & (tier == "yellow"), 0.15, "_worker", 0),
        ("risk_notice", verified & (tier == "yellow"), 0.015, "_officer", 0),
        ("penalty", escalated, 0.12, "_officer", 1),
        ("temporary_seal", escalated & (tier == "red"), 0.8, "_officer", 2),
        ("three_stops", escalated & (tier == "red"), 0.5, "_officer", 3),
    ]
    t_due = hz["_t_due"].to_numpy()
    t_rep = hz["_t_report"].to_numpy()
    t_rect = hz["_t_rectify"].to_numpy()
    for kind, mask, p, who, stage in specs:
        m = np.flatnonzero(mask & (rng.random(n) < p))
        if not len(m):
            continue
        issued = np.where(
            stage == 0,
            t_rep[m] + rng.integers(6, 48, len(m)) * clock.HOUR,
            t_due[m] + rng.integers(1, 5, len(m)) * clock.DAY,
        )
        keep = issued < clock.REF_S
        m, issued = m[keep], issued[keep]
        due = np.where(stage == 0, t_due[m], issued + 15 * clock.DAY)
        status = np.where(t_rect[m] < clock.REF_S, "closed", "open")
        amount = np.where(kind == "penalty", np.round(rng.uniform(5, 50, len(m))) * 1000, np.nan)
        rows.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "_h": m,
                    "issued_by_user_id": hz[who].to_numpy()[m],
                    "_issued": issued,
                    "_due": due,
                    "status": status,
                    "amount_cny": amount,
                    "note": NOTE[kind],
                }
            )
        )
    if not rows:
        return pd.DataFrame(
            columns=[
                "id",
                "kind",
                "hazard_id",
                "unit_id",
                "issued_by_user_id",
                "issued_at",
                "due_at",
                "status",
                "amount_cny",
                "note",
            ]
        )
    wo = pd.concat(rows, ignore_index=True).sort_values(["_issued", "_h"], kind="stable")
    h = wo.pop("_h").to_numpy()
    wo.insert(0, "id", d.world.ids.take("work_order", len(wo)))
    wo.insert(2, "hazard_id", hz["id"].to_numpy()[h])
    wo.insert(3, "unit_id", pd.array(hz["unit_id"].array[h], dtype="Int64"))
    wo["issued_at"] = clock.timestamps(wo.pop("_issued").to_numpy())
    wo["due_at"] = clock.timestamps(wo.pop("_due").to_numpy())
    wo["issued_by_user_id"] = pd.array(wo["issued_by_user_id"].to_numpy(), dtype="Int64")
    return wo.reset_index(drop=True)


def build_hot_work(d: District, units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Hot-work permits: past six months, active now, and upcoming."""
    rng = d.rng("hot-work")
    pool = np.flatnonzero(np.isin(units["_kind"].to_numpy(), HOT_WORK_UNITS))
    if not len(pool):
        pool = np.arange(len(units))
    n_past = d.count(HOT_WORK_PER_DISTRICT, minimum=4)
    n_now = d.count(8, minimum=2)
    n_next = d.count(6, minimum=1)
    n = n_past + n_now + n_next
    u = rng.choice(pool, n)
    day = np.concatenate(
        [
            clock.N_DAYS - 1 - rng.integers(1, 180, n_past),
            clock.N_DAYS - 1 - rng.integers(0, 2, n_now),
            clock.N_DAYS + rng.integers(0, 7, n_next),
        ]
    )
    start = clock.day_start(day) + (rng.uniform(7.5, 14, n) * clock.HOUR).astype(np.int64)
    length = np.where(
        rng.random(n) < 0.25,
        rng.integers(1, 4, n) * clock.DAY,
        (rng.uniform(2, 9, n) * clock.HOUR).astype(np.int64),
    )
    length[n_past : n_past + n_now] = rng.integers(2, 5, n_now) * clock.DAY
    end = start + length
    status = np.where(
        end < clock.REF_S, "completed", np.where(start <= clock.REF_S, "active", "approved")
    )
    watch = person_names(rng, n)
    watch = np.where(rng.random(n) < 0.1, None, watch)
    order = np.argsort(start, kind="stable")
    u, start, end, status, watch = u[order], start[order], end[order], status[order], watch[order]
    ang = rng.uniform(0, 2 * np.pi, n)
    dist = rng.uniform(0, 6, n)
    frame = pd.DataFrame(
        {
            "id": d.world.ids.take("hot_work_permit", n),
            "unit_id": units["id"].to_numpy()[u],
            "applicant": units["responsible_person"].to_numpy()[u],
            "work_kind": choice(rng, vocab.HOT_WORK_KINDS, (0.40, 0.25, 0.15, 0.10, 0.10), n),
            "starts_at": clock.timestamps(start),
            "ends_at": clock.timestamps(end),
            "status": status,
            "fire_watch_person": watch,
        }
    )
    return point_frame(
        frame,
        units["_bcx"].to_numpy()[u] + np.cos(ang) * dist,
        units["_bcy"].to_numpy()[u] + np.sin(ang) * dist,
    )
