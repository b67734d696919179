"""The report store: ``<dir>/<period>/<first day>/<region id>.{html,pdf,json}``.

The JSON beside each report is its manifest (region, period, headline figures, files, when
generated); listing reads the manifests. Files are written to a temporary name and renamed, so
a reader never sees half a report. A directory shared by the API workers (and the scheduler)
is all the store needs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from services.reports.periods import KINDS, Period

FORMATS = ("html", "pdf", "json")
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf",
               "json": "application/json"}


def report_id(period: Period, region_id: int) -> str:
    """e.g. ``weekly-2026-06-22-2``."""
    return f"{period.kind}-{period.first.isoformat()}-{region_id}"


def path_of(root: Path, period: Period, region_id: int, fmt: str) -> Path:
    if fmt not in FORMATS:
        msg = f"format must be one of {', '.join(FORMATS)}"
        raise ValueError(msg)
    return root / period.kind / period.first.isoformat() / f"{int(region_id)}.{fmt}"


def write_atomic(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    tmp.replace(path)


def read_manifest(root: Path, period: Period, region_id: int) -> dict[str, Any] | None:
    path = path_of(root, period, region_id, "json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def manifests(root: Path, *, kinds: Iterable[str] = KINDS, region_ids: set[int] | None = None,
              since: date | None = None) -> list[dict[str, Any]]:
    """Stored reports' manifests, newest period first (only complete ones: PDF present)."""
    out = []
    for kind in kinds:
        base = root / kind
        if not base.is_dir():
            continue
        for day_dir in base.iterdir():
            try:
                first = date.fromisoformat(day_dir.name)
            except ValueError:
                continue
            if since is not None and first < since:
                continue
            for js in day_dir.glob("*.json"):
                if not js.stem.isdigit():
                    continue
                if region_ids is not None and int(js.stem) not in region_ids:
                    continue
                if not js.with_suffix(".pdf").exists():
                    continue
                try:
                    out.append(json.loads(js.read_text(encoding="utf-8")))
                except json.JSONDecodeError:
                    continue
    out.sort(key=lambda m: (m["period"]["from"], m["period"]["kind"], m["region"]["level"],
                            m["region"]["code"] or ""), reverse=True)
    return out
