"""The hazard closed loop as data: states, actions, who may act, deadlines by tier.

Seed 002 (社区安全隐患排查): 发现-上报-核实-整改-复查 — a hazard is reported, verified within
24 h (or rejected as a false report), rectified by the responsible party within the deadline of
its tier, with before/after photos, rechecked and closed; a failed recheck sends it back to
rectification; minor (blue) hazards may be fixed and closed in the same visit. Overdue hazards
are escalated automatically (逾期未整改事项自动升级督办), major ones supervised (挂牌督办).

>>> plan("verify", "reported").to_status
'verified'
>>> plan("close", "reported")
Traceback (most recent call last):
...
services.workflows.hazard_rules.IllegalTransition: cannot close a hazard that is reported: close needs status rechecked
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis import vocab
from gis.errors import ConflictError

OPEN_STATUSES = ("reported", "verified", "rectifying", "rectified", "rechecked")
FINAL_STATUSES = ("closed", "rejected")
TIERS = vocab.HAZARD_TIERS  # ordered: blue < yellow < orange < red

FIELD_ROLES = frozenset({"admin", "street_officer", "community_admin", "grid_worker", "inspector"})
REPORT_ROLES = FIELD_ROLES | {"dispatcher", "unit_manager"}
SUPERVISOR_ROLES = frozenset({"admin", "street_officer", "community_admin"})


class HazardSettings(BaseSettings):
    """Deadlines of the closed loop (``FIRETWIN_HAZARD_*``).

    Seed 002 and 消防监督检查规定 (公安部令第120号): verify within 24 h; rectify blue hazards in
    3 days and yellow in 7; orange hazards need street-level coordination (15 days here) and
    red ones an immediate report and temporary control while rectification runs (30 days
    here, under supervision); a rectification is rechecked within 3 working days (3 days here).
    """

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_HAZARD_", extra="ignore")

    verify_within_h: float = Field(default=24, description="Verify a report within (seed 002).")
    blue_days: float = Field(default=3, description="Rectify a blue hazard within (seed 002).")
    yellow_days: float = Field(default=7, description="Rectify a yellow hazard within (seed 002).")
    orange_days: float = Field(default=15, description="Orange: street coordination deadline.")
    red_days: float = Field(default=30, description="Red: under supervision and control.")
    recheck_within_days: float = Field(default=3, description="Recheck within (120号令 §21).")
    escalate_every_h: float = Field(
        default=24,
        description="An overdue hazard goes one tier up at its deadline and again every this "
        "many hours it stays overdue (seed 002: 逾期自动升级督办).",
    )
    sweep_interval_s: float = Field(default=60, description="How often the API sweeps.")
    sweep_connections: int = Field(
        default=2, ge=1, le=32,
        description="Database connections one sweep uses side by side, each on its own share "
        "of the overdue hazards (about one per database core helps a mass escalation).",
    )

    def rectify_period(self, tier: str) -> timedelta:
        return timedelta(days=getattr(self, f"{tier}_days"))


class IllegalTransition(ConflictError):
    """The action is not allowed from the hazard's current state (HTTP 409)."""


@dataclass(frozen=True)
class Action:
    """One action of the closed loop."""

    name: str
    from_statuses: tuple[str, ...]
    to_status: str | None  # None: the status does not change (control, whistle, ...)
    roles: frozenset[str]
    needs_evidence: bool = False
    needs_note: bool = False
    blue_only: bool = False
    label_zh: str = ""


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("verify", ("reported",), "verified", FIELD_ROLES | {"unit_manager"}, label_zh="核实"),
        Action("reject", ("reported",), "rejected", FIELD_ROLES, needs_note=True,
               label_zh="误报注销"),
        Action("start_rectification", ("verified",), "rectifying",
               FIELD_ROLES | {"unit_manager"}, label_zh="开始整改"),
        Action("rectify", ("rectifying",), "rectified", FIELD_ROLES | {"unit_manager"},
               needs_evidence=True, label_zh="整改完成"),
        Action("recheck_pass", ("rectified",), "rechecked", FIELD_ROLES, label_zh="复查通过"),
        Action("recheck_fail", ("rectified",), "rectifying", FIELD_ROLES, needs_note=True,
               label_zh="复查不通过"),
        Action("close", ("rechecked",), "closed", FIELD_ROLES, label_zh="销号"),
        Action("fix_on_spot", ("reported", "verified"), "closed", FIELD_ROLES,
               needs_evidence=True, blue_only=True, label_zh="立查立改"),
        Action("control", OPEN_STATUSES, None, FIELD_ROLES, needs_note=True,
               label_zh="临时管控"),
    )
}


def plan(action: str, status: str, *, tier: str = "blue") -> Action:
    """The action if it may run on a hazard in ``status``; IllegalTransition with the reason."""
    a = ACTIONS.get(action)
    if a is None:
        msg = f"unknown action {action!r}: one of {', '.join(ACTIONS)}"
        raise ValueError(msg)
    if status not in a.from_statuses:
        need = " or ".join(a.from_statuses)
        msg = f"cannot {action} a hazard that is {status}: {action} needs status {need}"
        raise IllegalTransition(msg)
    if a.blue_only and tier != "blue":
        msg = f"only blue (minor) hazards can be fixed on the spot; this one is {tier}"
        raise IllegalTransition(msg)
    return a


def allowed_actions(status: str, tier: str, role: str) -> list[str]:
    """Actions the role may take next on a hazard (for clients' buttons)."""
    out = []
    for a in ACTIONS.values():
        if role in a.roles and status in a.from_statuses and (not a.blue_only or tier == "blue"):
            out.append(a.name)
    return out


def stage_due(status: str, *, verify_due_at: datetime | None, rectify_due_at: datetime | None,
              recheck_due_at: datetime | None) -> datetime | None:
    """The deadline of the stage a hazard is in (None when nothing is due)."""
    if status == "reported":
        return verify_due_at
    if status in ("verified", "rectifying"):
        return rectify_due_at
    if status == "rectified":
        return recheck_due_at
    return None


def tier_up(tier: str, steps: int = 1) -> str:
    """The tier ``steps`` above, capped at red.

    >>> tier_up("blue"), tier_up("yellow", 5)
    ('yellow', 'red')
    """
    return TIERS[min(len(TIERS) - 1, TIERS.index(tier) + steps)]


def supervised_tier(tier: str) -> bool:
    """Orange and red hazards are supervised (挂牌督办)."""
    return tier in ("orange", "red")
