"""The hazard lifecycle (seed 002): report → verify (24 h) → rectify (deadline) → recheck → close.

Each hazard gets every stage's time from its report time, tier and the responsible unit's
management: verification within 24 h (a few late), rectification within 3 / 7 / 15 / 30 days
for blue / yellow / orange / red (late more often where management is poor), recheck within
3 working days, then closing. Minor hazards are often fixed on the spot. A few are rejected
at verification, a few fail their recheck and go round again, a few are never fixed and get
escalated. Stages after the reference time have not happened yet, which gives the open
hazards of today in all states. Every transition becomes a ``hazard_event`` row.

Timestamps always satisfy reported ≤ verified ≤ rectified ≤ rechecked ≤ closed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gis.demo import clock
from gis.demo.hazard_text import NOTES

H, D, M = clock.HOUR, clock.DAY, clock.MINUTE
DEADLINE_DAYS = {"blue": 3, "yellow": 7, "orange": 15, "red": 30}
NEVER = np.iinfo(np.int64).max // 4


def lifecycle_times(rng: np.random.Generator, h: pd.DataFrame, z_mgmt: np.ndarray) -> dict:
    """All stage times (epoch s; ``NEVER`` when a stage never happens) and path flags."""
    n = len(h)
    t0 = h["_t_report"].to_numpy()
    tier = h["tier"].to_numpy()
    src = h["source"].to_numpy()
    on_spot = (tier == "blue") & np.isin(src, ("grid_worker", "inspection")) & (rng.random(n) < 0.3)
    reject_p = np.select(
        [src == "public", src == "sensor", src == "camera"], [0.10, 0.08, 0.06], 0.02
    )
    reject = ~on_spot & (rng.random(n) < reject_p)
    verify_delay = np.minimum(rng.lognormal(np.log(4 * H), 1.0, n), 96 * H)
    t_verify = t0 + np.where(on_spot, rng.uniform(5 * M, 30 * M, n), verify_delay).astype(np.int64)
    t_assign = t_verify + np.where(
        on_spot, rng.uniform(1 * M, 5 * M, n), rng.uniform(0.5 * H, 8 * H, n)
    ).astype(np.int64)
    days = np.array([DEADLINE_DAYS[t] for t in tier])
    due = t_verify + days * D
    late = ~on_spot & (rng.random(n) < 1 / (1 + np.exp(-(-2.2 + 0.8 * z_mgmt))))
    frac = np.where(late, rng.uniform(1.05, 2.5, n), rng.uniform(0.1, 0.95, n))
    t_rect1 = np.where(
        on_spot, t_assign + rng.uniform(10 * M, 60 * M, n), t_assign + frac * days * D
    ).astype(np.int64)
    fail = ~on_spot & (rng.random(n) < 0.05)
    t_fail = t_rect1 + rng.uniform(0.2 * D, 2 * D, n).astype(np.int64)
    t_rect = np.where(fail, t_fail + rng.uniform(1, 1 + days, n) * D, t_rect1).astype(np.int64)
    stuck = ~reject & ~on_spot & (rng.random(n) < 0.012)
    t_rect = np.where(stuck, NEVER, t_rect)
    recheck_gap = np.where(
        rng.random(n) < 0.05, rng.uniform(3 * D, 8 * D, n), rng.uniform(0.2 * D, 2.5 * D, n)
    )
    t_recheck = np.where(
        on_spot, t_rect + rng.uniform(5 * M, 30 * M, n), t_rect + recheck_gap
    ).astype(np.int64)
    t_close = t_recheck + rng.uniform(0.05 * H, 6 * H, n).astype(np.int64)
    t_recheck = np.where(stuck, NEVER, t_recheck)
    t_close = np.where(stuck, NEVER, t_close)
    escalate = ~reject & ((t_rect > due + 3 * D) | (stuck & (t_verify < clock.REF_S)))
    t_escalate = due + rng.uniform(1 * D, 3 * D, n).astype(np.int64)
    return {
        "report": t0,
        "verify": t_verify,
        "assign": t_assign,
        "due": due,
        "rect1": t_rect1,
        "fail_at": t_fail,
        "rectify": t_rect,
        "recheck": t_recheck,
        "close": t_close,
        "escalate_at": t_escalate,
        "on_spot": on_spot,
        "reject": reject,
        "fail": fail,
        "escalate": escalate,
    }


def apply_lifecycle(h: pd.DataFrame, lt: dict) -> pd.DataFrame:
    """Status and timestamp columns of the hazards as of the reference time."""
    ref = clock.REF_S
    reject = lt["reject"]

    def at(t: np.ndarray) -> np.ndarray:
        return np.where(t < ref, t, -1)

    verified = np.where(reject, -1, at(lt["verify"]))
    assigned = np.where(reject, -1, at(lt["assign"]))
    rectified = np.where(reject, -1, at(lt["rectify"]))
    # A failed recheck: rectified once (awaiting recheck), then back to rectifying.
    first_done = lt["fail"] & (lt["rect1"] < ref) & (lt["fail_at"] >= ref)
    rectified = np.where(first_done & ~reject, lt["rect1"], rectified)
    rechecked = np.where(reject, -1, at(lt["recheck"]))
    closed = np.where(reject, -1, at(lt["close"]))
    status = np.select(
        [
            reject & (lt["verify"] < ref),
            closed >= 0,
            rechecked >= 0,
            rectified >= 0,
            assigned >= 0,
            verified >= 0,
        ],
        ["rejected", "closed", "rechecked", "rectified", "rectifying", "verified"],
        "reported",
    )
    # A failed recheck sends a rectified hazard back to rectifying until it is fixed again.
    back = lt["fail"] & (lt["fail_at"] < ref) & (lt["rectify"] >= ref)
    status = np.where(back, "rectifying", status)
    escalated = lt["escalate"] & (lt["escalate_at"] < ref)
    return h.assign(
        status=status,
        verify_due_at=clock.timestamps(lt["report"] + 24 * H),
        verified_at=clock.timestamps(verified),
        rectify_due_at=clock.timestamps(np.where(verified >= 0, lt["due"], -1)),
        rectified_at=clock.timestamps(rectified),
        recheck_due_at=clock.timestamps(
            np.where(
                rectified >= 0,
                clock.add_working_days(np.where(rectified >= 0, rectified, 0), 3),
                -1,
            )
        ),
        rechecked_at=clock.timestamps(rechecked),
        closed_at=clock.timestamps(closed),
        supervised=escalated | np.isin(h["tier"].to_numpy(), ("red",)),
        _escalated=escalated,
    )


def hazard_events(
    h: pd.DataFrame, lt: dict, actors: dict[str, np.ndarray], names: dict[int, str]
) -> pd.DataFrame:
    """One row per transition that happened before the reference time, ordered in time.

    ``actors`` maps a role (reporter, verifier, officer, rectifier, rechecker) to a user id per
    hazard (-1: no account); ``names`` gives user display names.
    """
    ref = clock.REF_S
    n = len(h)
    idx = np.arange(n)
    reject, fail = lt["reject"], lt["fail"]
    steps = [  # (mask, time, action, from, to, actor role)
        (np.ones(n, bool), lt["report"], "report", None, "reported", "reporter"),
        (reject, lt["verify"], "reject", "reported", "rejected", "verifier"),
        (~reject, lt["verify"], "verify", "reported", "verified", "verifier"),
        (~reject, lt["assign"], "assign", "verified", "rectifying", "officer"),
        (~reject & fail, lt["rect1"], "rectify", "rectifying", "rectified", "rectifier"),
        (~reject & fail, lt["fail_at"], "recheck_fail", "rectified", "rectifying", "rechecker"),
        (lt["escalate"], lt["escalate_at"], "escalate", "rectifying", "rectifying", "officer"),
        (~reject, lt["rectify"], "rectify", "rectifying", "rectified", "rectifier"),
        (~reject, lt["recheck"], "recheck", "rectified", "rechecked", "rechecker"),
        (~reject, lt["close"], "close", "rechecked", "closed", "rechecker"),
    ]
    frames = []
    for order, (mask, t, action, frm, to, role) in enumerate(steps):
        m = mask & (t < ref)
        if action == "escalate":  # only while still unrectified
            m &= t < lt["rectify"]
        if not m.any():
            continue
        actor = actors[role][m]
        frames.append(
            pd.DataFrame(
                {
                    "_h": idx[m],
                    "_t": t[m],
                    "_order": order,
                    "action": action,
                    "from_status": frm,
                    "to_status": to,
                    "actor_user_id": actor,
                    "note": NOTES[action],
                }
            )
        )
    ev = pd.concat(frames, ignore_index=True)
    ev = ev.sort_values(["_h", "_t", "_order"], kind="stable").reset_index(drop=True)
    rect_names = actors["rectifier_name"]
    ev["actor_name"] = [
        names.get(int(a))
        if a >= 0
        else (
            rect_names[hh]
            if act == "rectify"
            else h["reporter_name"].iat[hh]
            if act == "report"
            else None
        )
        for a, act, hh in zip(ev["actor_user_id"], ev["action"], ev["_h"], strict=True)
    ]
    ev["actor_user_id"] = pd.array(
        np.where(ev["actor_user_id"] < 0, None, ev["actor_user_id"]), dtype="Int64"
    )
    ev["at"] = clock.timestamps(ev["_t"].to_numpy())
    return ev
