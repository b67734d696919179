"""Five years of hazards with their full event history, and what they say about each unit.

Builds the ``hazard`` and ``hazard_event`` frames (ids, codes such as 西屯-电气-中-000123,
titles, photos, publication), then sums each unit's history (hazards by class, open ones,
rectification delays) and derives the unit colour codes from it: about 2 % red and 10 %
yellow, the rest green (seed 003: red stop/close, yellow rectify by deadline, green passed).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.demo import clock
from gis.demo.context import District
from gis.demo.geo import point_frame
from gis.demo.hazard_text import CATEGORY_LABEL, TIER_LABEL, TITLE
from gis.demo.hazards import build_hazards
from gis.demo.lifecycle import apply_lifecycle, hazard_events, lifecycle_times
from gis.demo.regions import Regions
from gis.demo.users import Staff

OPEN = ("reported", "verified", "rectifying", "rectified", "rechecked")
RED_SHARE = 0.02
YELLOW_SHARE = 0.10


@dataclass
class History:
    hazards: gpd.GeoDataFrame
    events: gpd.GeoDataFrame
    unit_summary: pd.DataFrame  # one row per unit (aligned with the units frame)


def _tracking(ids: np.ndarray, seed: int) -> list[str]:
    """Public tracking codes: a bijection of the id (unique), not guessable from it."""
    mask = (1 << 40) - 1
    mix = (seed * 0x9E3779B1) & mask
    out = []
    for i in ids:
        v = ((int(i) * 0xC6A4A7935BD1E995) & mask) ^ mix
        out.append(f"HZ{v:010X}")
    return out


def build_history(
    d: District,
    r: Regions,
    units: gpd.GeoDataFrame,
    edges: pd.DataFrame,
    buildings: gpd.GeoDataFrame,
    sensors: gpd.GeoDataFrame,
    staff: Staff,
    managers: pd.DataFrame,
) -> History:
    """Hazards, events and per-unit summaries of district ``d``."""
    rng = d.rng("history")
    h = build_hazards(d, r, units, edges, buildings, sensors, staff)
    uidx = h["_unit"].to_numpy()
    has_unit = uidx >= 0
    z = np.where(has_unit, units["_z_mgmt"].to_numpy()[np.where(has_unit, uidx, 0)], 0.0)
    lt = lifecycle_times(rng, h, z)
    order = np.argsort(lt["report"], kind="stable")
    h = h.iloc[order].reset_index(drop=True)
    lt = {k: v[order] for k, v in lt.items()}
    uidx, has_unit = uidx[order], has_unit[order]
    h = apply_lifecycle(h, lt)
    n = len(h)
    ids = d.world.ids.take("hazard", n)
    seq = h.groupby("_street").cumcount().to_numpy() + 1
    codes = [
        f"{s}-{CATEGORY_LABEL[c]}-{TIER_LABEL[t]}-{q:06d}"
        for s, c, t, q in zip(h["_street_short"], h["category"], h["tier"], seq, strict=True)
    ]
    unit_ids = units["id"].to_numpy()
    unit_names = units["name"].to_numpy()
    where = np.where(has_unit, unit_names[np.where(has_unit, uidx, 0)], "")
    titles = [
        f"{w}{TITLE[s]}" if w else TITLE[s] for w, s in zip(where, h["subcategory"], strict=True)
    ]
    addr = np.where(has_unit, units["address"].to_numpy()[np.where(has_unit, uidx, 0)], None)
    desc = [
        f"{a}：{TITLE[s]}。" if a else f"{TITLE[s]}（公共区域）。"
        for a, s in zip(addr, h["subcategory"], strict=True)
    ]
    status = h["status"].to_numpy()
    done = np.isin(status, ("rectified", "rechecked", "closed"))
    photos = [
        [f"demo/hazards/{c}/before.jpg", f"demo/hazards/{c}/after.jpg"]
        if dn
        else [f"demo/hazards/{c}/before.jpg"]
        for c, dn in zip(codes, done, strict=True)
    ]
    published = (
        (status == "closed")
        & (h["category"].to_numpy() != "vulnerable_groups")
        & (rng.random(n) < 0.9)
    )
    last_event = np.max(
        np.stack(
            [
                np.where(t < clock.REF_S, t, 0)
                for t in (
                    lt["report"],
                    lt["verify"],
                    lt["assign"],
                    np.where(lt["fail"], lt["rect1"], 0),
                    np.where(lt["fail"], lt["fail_at"], 0),
                    lt["rectify"],
                    lt["recheck"],
                    lt["close"],
                    np.where(lt["escalate"], lt["escalate_at"], 0),
                )
            ]
        ),
        axis=0,
    )
    last_event = np.where(lt["reject"], np.minimum(last_event, lt["verify"]), last_event)
    mgr_by_unit = dict(zip(managers["unit_id"].astype(int), managers["id"], strict=True))
    rect_user = np.array([mgr_by_unit.get(int(unit_ids[u]), -1) if u >= 0 else -1 for u in uidx])
    names = dict(zip(staff.users["id"], staff.users["display_name"], strict=True))
    names.update(zip(managers["id"], managers["display_name"], strict=True))
    tiers = h["tier"].to_numpy()
    actors = {
        "reporter": h["reporter_user_id"].to_numpy(),
        "verifier": h["assignee_user_id"].to_numpy(),
        "officer": np.where(np.isin(tiers, ("orange", "red")), h["_officer"], h["_worker"]),
        "rectifier": rect_user,
        "rectifier_name": h["responsible_person"].to_numpy(),
        "rechecker": h["assignee_user_id"].to_numpy(),
    }
    ev = hazard_events(h, lt, actors, names)
    ev.insert(0, "id", d.world.ids.take("hazard_event", len(ev)))
    ev["hazard_id"] = ids[ev.pop("_h").to_numpy()]
    ev["attachments"] = [
        [f"demo/hazards/{codes[k]}/after.jpg"] if a == "rectify" else []
        for k, a in zip(np.searchsorted(ids, ev["hazard_id"]), ev["action"], strict=True)
    ]
    hx, hy = h["_x"].to_numpy(), h["_y"].to_numpy()
    pos = np.searchsorted(ids, ev["hazard_id"].to_numpy())
    events = point_frame(ev.drop(columns=["_t", "_order"]), hx[pos], hy[pos])

    def opt(a: np.ndarray) -> pd.arrays.IntegerArray:
        return pd.array(np.where(a < 0, None, a), dtype="Int64")

    frame_ = pd.DataFrame(
        {
            "id": ids,
            "code": codes,
            "tracking_code": [
                t if s == "public" else None
                for t, s in zip(_tracking(ids, d.world.seed), h["source"], strict=True)
            ],
            "category": h["category"],
            "subcategory": h["subcategory"],
            "tier": h["tier"],
            "status": status,
            "source": h["source"],
            "title": titles,
            "description": desc,
            "reporter_user_id": opt(h["reporter_user_id"].to_numpy()),
            "reporter_name": h["reporter_name"],
            "reporter_phone": h["reporter_phone"],
            "assignee_user_id": opt(h["assignee_user_id"].to_numpy()),
            "unit_id": opt(np.where(has_unit, unit_ids[np.where(has_unit, uidx, 0)], -1)),
            "building_id": opt(h["_building"].to_numpy()),
            "responsible_person": h["responsible_person"],
            "road_edge_id": opt(h["_edge"].to_numpy()),
            "sensor_id": opt(h["sensor_id"].to_numpy()),
            "supervised": h["supervised"],
            "published": published,
            "photos": photos,
            "reported_at": clock.timestamps(lt["report"]),
            "verify_due_at": h["verify_due_at"],
            "verified_at": h["verified_at"],
            "rectify_due_at": h["rectify_due_at"],
            "rectified_at": h["rectified_at"],
            "recheck_due_at": h["recheck_due_at"],
            "rechecked_at": h["rechecked_at"],
            "closed_at": h["closed_at"],
            "updated_at": clock.timestamps(last_event),
            "_unit": uidx,
            "_grid": h["_grid"].to_numpy(),
            "_street": h["_street"].to_numpy(),
            "_t_report": lt["report"],
            "_t_due": lt["due"],
            "_t_rectify": lt["rectify"],
            "_t_recheck": lt["recheck"],
            "_reject": lt["reject"],
            "_worker": h["_worker"].to_numpy(),
            "_inspector": h["_inspector"].to_numpy(),
            "_officer": h["_officer"].to_numpy(),
            "_escalated": h["_escalated"].to_numpy(),
        }
    )
    hazards = point_frame(frame_, hx, hy)
    summary = summarize_units(units, hazards)
    return History(hazards=hazards, events=events, unit_summary=summary)


def summarize_units(units: gpd.GeoDataFrame, hz: pd.DataFrame) -> pd.DataFrame:
    """Per-unit hazard history as of the reference date, and the derived colour code."""
    n = len(units)
    u = hz["_unit"].to_numpy()
    m = (u >= 0) & ~hz["_reject"].to_numpy()
    u = u[m]
    cat = hz["category"].to_numpy()[m]
    status = hz["status"].to_numpy()[m]
    tier = hz["tier"].to_numpy()[m]
    t_rep = hz["_t_report"].to_numpy()[m]
    due = hz["_t_due"].to_numpy()[m]
    rect = np.minimum(hz["_t_rectify"].to_numpy()[m], clock.REF_S)
    delay_days = np.clip((rect - due) / clock.DAY, 0, None)
    is_open = np.isin(status, OPEN)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(u[mask], minlength=n)

    s = pd.DataFrame(
        {
            "n_hazards": count(np.ones(len(u), bool)),
            "n_ebike": count(cat == "ebike"),
            "n_corridor": count(hz["subcategory"].to_numpy()[m] == "corridor_clutter"),
            "n_electrical": count(cat == "electrical"),
            "n_gas": count(cat == "gas"),
            "n_open": count(is_open),
            "n_open_high": count(is_open & np.isin(tier, ("orange", "red"))),
            "n_last_year": count(t_rep >= clock.REF_S - 365 * clock.DAY),
            "delay_days": np.bincount(u, weights=delay_days, minlength=n)
            / np.maximum(count(np.ones(len(u), bool)), 1),
        }
    )
    score = 3 * s["n_open_high"] + s["n_open"] + 0.25 * s["n_last_year"] + 0.05 * s["delay_days"]
    score = score.to_numpy() + np.arange(n) * 1e-9  # deterministic tie-break
    rank = np.argsort(-score, kind="stable")
    colour = np.full(n, "green", dtype=object)
    n_red = round(RED_SHARE * n)
    n_yellow = round(YELLOW_SHARE * n)
    positive = score[rank] > 1e-3
    colour[rank[:n_red][positive[:n_red]]] = "red"
    yel = rank[n_red : n_red + n_yellow]
    colour[yel[positive[n_red : n_red + n_yellow]]] = "yellow"
    s["colour_code"] = colour
    return s
