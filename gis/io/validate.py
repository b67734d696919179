"""Row-level checks of input against a target table, vectorised, before anything is written.

``check_geometries`` and ``check_attributes`` never raise on bad rows: they return the
conformed values and a ``{position: [reason, ...]}`` map, so the caller can either refuse the
whole input (naming the first bad rows) or drop the bad rows and report them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gis.io.schema import ROW_RULES, ColumnSpec, TableSpec

__all__ = ["Problems", "check_attributes", "check_geometries"]

Problems = dict[int, list[str]]

_TYPE_ID = {"POINT": 0, "LINESTRING": 1, "MULTIPOINT": 4, "MULTILINESTRING": 5, "MULTIPOLYGON": 6}
_POLYGONAL = (3, 6)
_INT_RANGE = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


def _add(problems: Problems, positions: np.ndarray, reason: Any) -> None:
    """Record ``reason`` (a string, or a function of the position) for each position."""
    for p in positions.tolist():
        problems.setdefault(p, []).append(reason(p) if callable(reason) else reason)


def _fmt(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------------------ geometry


def _polygonal_parts(g: Any) -> Any:
    parts = shapely.get_parts(g)
    polys = [p for p in parts if shapely.get_type_id(p) in _POLYGONAL and not p.is_empty]
    flat: list[Any] = []
    for p in polys:
        flat.extend(shapely.get_parts(p) if shapely.get_type_id(p) == 6 else [p])
    return shapely.MultiPolygon(flat) if flat else None


def check_geometries(
    geoms: np.ndarray, target: str | None, *, nullable: bool = False, repair: bool = False
) -> tuple[np.ndarray, Problems, int, Problems]:
    """Check geometries already in EPSG:4326 and conform them to the table's type ``target``.

    Refused: missing or empty geometry (unless ``nullable``), coordinates outside
    longitude −180…180 / latitude −90…90 (what a wrong or missing CRS produces), invalid
    geometry (unless ``repair``: polygons are then fixed with ``make_valid``), and a type the
    column cannot hold. Single parts are promoted to multi (Polygon → MultiPolygon) and
    one-part multis reduced (MultiPoint → Point). Z/M values are dropped.

    Returns the conformed geometries, the problems by position, the number repaired, and
    (with ``repair``) the geometries that collapsed in repair, by position.
    """
    geoms = np.asarray(geoms, dtype=object).copy()
    problems: Problems = {}
    dropped: Problems = {}
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any() and not nullable:
        _add(problems, np.flatnonzero(missing), "geometry is missing or empty")
    present = ~missing
    if not present.any():
        return geoms, problems, 0, dropped
    if shapely.has_z(geoms[present]).any():
        geoms[present] = shapely.force_2d(geoms[present])
    bounds = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        out = present & (
            ~np.isfinite(bounds).all(axis=1)
            | (bounds[:, 0] < -180)
            | (bounds[:, 2] > 180)
            | (bounds[:, 1] < -90)
            | (bounds[:, 3] > 90)
        )
    if out.any():

        def out_reason(p: int) -> str:
            x, y = bounds[p, 0], bounds[p, 1]
            return (
                f"coordinates ({x:.6g}, {y:.6g}) are outside the longitude/latitude range after "
                "reprojection to EPSG:4326 (is the CRS right?)"
            )

        _add(problems, np.flatnonzero(out), out_reason)
    ok = present & ~out
    repaired = 0
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[ok] = ~shapely.is_valid(geoms[ok])
    if invalid.any():
        positions = np.flatnonzero(invalid)
        if repair:
            fixed = shapely.make_valid(geoms[positions])
            for p, g in zip(positions.tolist(), fixed, strict=True):
                if target in ("MULTIPOLYGON", "POLYGON"):
                    g = _polygonal_parts(g)
                if g is None or g.is_empty or not g.is_valid:
                    reason = shapely.is_valid_reason(geoms[p])
                    dropped[p] = [f"invalid geometry that cannot be repaired ({reason})"]
                else:
                    geoms[p] = g
                    repaired += 1
        else:
            reasons = shapely.is_valid_reason(geoms[positions])
            for p, r in zip(positions.tolist(), reasons, strict=True):
                problems.setdefault(p, []).append(f"invalid geometry ({r})")
    flagged = np.zeros(len(geoms), dtype=bool)
    flagged[[*problems, *dropped]] = True
    ok = present & ~flagged
    if target in _TYPE_ID or target in ("POLYGON", "GEOMETRY", None):
        geoms, bad = _conform_type(geoms, ok, target)
        if bad.any():
            _add(
                problems,
                np.flatnonzero(bad),
                lambda p: f"{geoms[p].geom_type} where {target} is required",
            )
    return geoms, problems, repaired, dropped


def _conform_type(
    geoms: np.ndarray, ok: np.ndarray, target: str | None
) -> tuple[np.ndarray, np.ndarray]:
    bad = np.zeros(len(geoms), dtype=bool)
    if target in (None, "GEOMETRY") or not ok.any():
        return geoms, bad
    types = np.full(len(geoms), -1)
    types[ok] = shapely.get_type_id(geoms[ok])
    nparts = np.zeros(len(geoms), dtype=int)
    nparts[ok] = shapely.get_num_geometries(geoms[ok])
    if target in ("POINT", "LINESTRING"):
        single, multi = _TYPE_ID[target], _TYPE_ID[target] + 3
        reduce = ok & (types == multi) & (nparts == 1)
        if reduce.any():
            geoms[reduce] = shapely.get_geometry(geoms[reduce], 0)
            types[reduce] = single
        bad = ok & (types != single)
    elif target in ("MULTIPOLYGON", "MULTILINESTRING", "MULTIPOINT"):
        multi = _TYPE_ID[target]
        single = multi - 3
        promote = ok & (types == single)
        if promote.any():
            cls = {6: shapely.MultiPolygon, 5: shapely.MultiLineString, 4: shapely.MultiPoint}[
                multi
            ]
            geoms[promote] = [cls([g]) for g in geoms[promote]]
            types[promote] = multi
        bad = ok & (types != multi)
    elif target == "POLYGON":
        bad = ok & (types != 3)
    return geoms, bad


# ---------------------------------------------------------------------------- attributes


def _present(s: pd.Series) -> np.ndarray:
    """Not missing: not None/NaN/NA and not an empty string."""
    p = s.notna().to_numpy()
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        p = p & (s.to_numpy(dtype=object) != "")
    return p


def _text_lengths(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    lengths = np.zeros(len(values), dtype=np.int64)
    idx = np.flatnonzero(present)
    lengths[idx] = np.fromiter(map(len, values[idx]), np.int64, len(idx))
    return lengths


def _blank(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Present values made only of white space."""
    blank = np.zeros(len(values), dtype=bool)
    idx = np.flatnonzero(present)
    blank[idx] = np.fromiter(map(str.isspace, values[idx]), bool, len(idx))
    return blank


def _to_text(v: Any) -> Any:
    if isinstance(v, str):
        return v
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def _bool(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | float | np.integer | np.floating) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        t = v.strip().lower()
        if t in _TRUE:
            return True
        if t in _FALSE:
            return False
    return None


def _json(v: Any) -> Any:
    if isinstance(v, dict | list):
        return v
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return None
    return None


def _array(v: Any) -> Any:
    if isinstance(v, list | tuple | np.ndarray):
        return [str(x) for x in v]
    loaded = _json(v)
    return [str(x) for x in loaded] if isinstance(loaded, list) else None


def _coerce(
    s: pd.Series, col: ColumnSpec, present: np.ndarray
) -> tuple[pd.Series, np.ndarray, str]:
    """Convert ``s`` to what COPY expects for ``col``; return values, bad mask and the type."""
    udt = col.udt
    if udt in _INT_RANGE:
        num = pd.to_numeric(s, errors="coerce")
        with np.errstate(invalid="ignore"):
            arr = num.to_numpy(dtype=float, na_value=np.nan)
            lim = _INT_RANGE[udt]
            bad = present & (np.isnan(arr) | (arr % 1 != 0) | (arr < -lim) | (arr >= lim))
        num = num.where(~bad)
        if pd.api.types.is_float_dtype(num.dtype):
            num = num.round()
        return num.astype("Int64"), bad, "an integer"
    if udt in ("float4", "float8", "numeric"):
        num = pd.to_numeric(s, errors="coerce").astype(float)
        bad = present & ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
        return num.where(~bad), bad, "a number"
    if udt == "bool":
        out = s.map(_bool, na_action="ignore")
        bad = present & out.isna().to_numpy()
        return out.astype(object), bad, "true or false"
    if udt in ("timestamptz", "timestamp", "date"):
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            return s, np.zeros(len(s), dtype=bool), "a date/time"
        text = s.map(_to_text, na_action="ignore")
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        bad = present & parsed.isna().to_numpy()
        return text.where(present), bad, "an ISO 8601 date/time"
    if udt in ("json", "jsonb"):
        out = s.map(_json, na_action="ignore")
        bad = present & out.isna().to_numpy()
        return out.astype(object), bad, "JSON"
    if udt.startswith("_"):
        out = s.map(_array, na_action="ignore")
        bad = present & out.isna().to_numpy()
        return out.astype(object), bad, 'a JSON list such as ["a", "b"]'
    # text, varchar and anything else COPY parses from text
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        out = s.astype(object)
        if not pd.api.types.is_string_dtype(out):
            out = out.map(_to_text, na_action="ignore")
    else:
        out = s.map(_to_text, na_action="ignore").astype(object)
    return out.where(present, None), np.zeros(len(s), dtype=bool), "text"


def check_attributes(
    frame: pd.DataFrame,
    spec: TableSpec,
    *,
    defaults: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, Problems]:
    """Convert the columns of ``frame`` to the table's types and check them row by row.

    Checks: values of the column type; NOT NULL columns without default present on every row
    (NULLs in NOT NULL columns with a default get the default from ``defaults``); text within
    its length; vocabulary columns within ``gis.vocab``; the table's other row rules; unique
    columns not repeated within ``frame``. ``frame`` must have a 0..n-1 index.
    """
    defaults = defaults or {}
    problems: Problems = {}
    out: dict[str, Any] = {}
    for name in frame.columns:
        col = spec.columns[name]
        s = frame[name]
        present = _present(s)
        values, bad, kind = _coerce(s, col, present)
        if bad.any():
            raw = s.to_numpy(dtype=object)
            _add(
                problems,
                np.flatnonzero(bad),
                lambda p, n=name, r=raw, k=kind: f"{n} {_fmt(r[p])} is not {k}",
            )
            present = present & ~bad
        lengths = None
        if col.udt in ("text", "varchar", "bpchar") and present.any():
            arr = values.to_numpy(dtype=object)
            lengths = _text_lengths(arr, present)
            if not col.nullable:
                present = present & ~_blank(arr, present)
        if not col.nullable and not present.all():
            absent = np.flatnonzero(~present & ~bad)
            if col.required or col.identity or (col.default or "").startswith("nextval("):
                _add(problems, absent, f"{name} is required")
            elif name in defaults and len(absent):
                values = values.astype(object)
                values.iloc[absent] = [defaults[name]] * len(absent)
        if col.max_length is not None and lengths is not None:
            long_ = present & (lengths > col.max_length)
            if long_.any():
                _add(
                    problems,
                    np.flatnonzero(long_),
                    lambda p, n=name, L=lengths, m=col.max_length: (
                        f"{n} is {int(L[p])} characters long, at most {m} allowed"
                    ),
                )
        allowed = spec.vocabularies.get(name)
        if allowed is not None and present.any():
            wrong = present & ~values.isin(allowed).to_numpy()
            if wrong.any():
                raw = values.to_numpy(dtype=object)
                _add(
                    problems,
                    np.flatnonzero(wrong),
                    lambda p, n=name, r=raw, a=allowed: (
                        f"{n} {_fmt(r[p])} is not one of: {', '.join(a)}"
                    ),
                )
        if name in spec.unique and present.any():
            dup = present & values.duplicated(keep="first").to_numpy()
            if dup.any():
                raw = values.to_numpy(dtype=object)
                _add(
                    problems,
                    np.flatnonzero(dup),
                    lambda p, n=name, r=raw: (
                        f"{n} {_fmt(r[p])} appears more than once in the input"
                    ),
                )
        out[name] = values
    result = pd.DataFrame(out, index=frame.index)
    for rule in ROW_RULES.get(spec.name, ()):
        bad_rows, reason = rule(result)
        if reason and bad_rows.any():
            _add(problems, np.flatnonzero(bad_rows.to_numpy(dtype=bool)), reason)
    return result, problems
