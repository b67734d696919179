"""Streaming load of checked rows into one FireTwin table, shared by every importer.

A ``TableLoader`` takes frames (already in EPSG:4326, columns already named as in the table)
chunk by chunk: it checks them (``gis.io.validate``, plus uniqueness across chunks and against
the table, and foreign keys), then writes the good rows through ``gis.bulk.copy_frame``, which
adds the H3 cells and grid id. With ``skip_invalid`` the bad rows are reported and left out;
otherwise the first chunk with a bad row raises ``ImportRejectedError`` and the caller's
transaction rolls everything back.

**Bulk mode.** When a load brings at least ``bulk_min_rows`` rows and more rows than the table
holds, the table's secondary indexes, unique constraints (other than the primary key) and
foreign keys are dropped before the first COPY and recreated after the last, inside the same
transaction, as ``pg_restore`` does: building an index once over sorted data is several times
cheaper than maintaining it row by row. The rows were checked in Python first, so recreating the
constraints does not fail on them. The price is an exclusive lock on the table (and a share lock
on the tables its foreign keys reference) until the import commits.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql

from gis.bulk import copy_frame
from gis.errors import InvalidInputError
from gis.indexing import anchor_points, grid_polygons
from gis.io.report import ImportRejectedError, ImportReport, Rejection
from gis.io.schema import COMPUTED_COLUMNS, TableSpec, table_spec
from gis.io.validate import Problems, check_attributes, check_geometries
from gis.models import SCHEMA, SRID

__all__ = ["Progress", "TableLoader", "resolve_columns"]

Progress = Callable[[str, int, int], None]

IDENT_COLUMNS = ("code", "id", "osm_id")
MAX_LISTED = 20  # rejections named in an ImportRejectedError


def resolve_columns(
    source: Iterable[str],
    spec: TableSpec,
    *,
    mapping: Mapping[str, str | None] | None,
    ignore_extra: bool,
    report: ImportReport,
    label: str,
) -> dict[str, str]:
    """Decide which source column feeds which table column; return ``{source: target}``.

    ``mapping`` renames source columns (a value of None drops the column). Unmapped source
    columns named like a table column (case-insensitively) load into it; H3 and grid columns
    are always recomputed, so source columns of those names are dropped. Any other column is
    refused, or dropped with ``ignore_extra``. Required table columns that no source column
    feeds are refused.
    """
    source = list(source)
    mapping = dict(mapping or {})
    loadable = spec.loadable
    lower = {c.lower(): c for c in loadable}
    unknown_keys = [k for k in mapping if k not in source]
    if unknown_keys:
        msg = (
            f"{label}: the column mapping names {', '.join(map(repr, unknown_keys))}, which the "
            f"input does not have; its columns are: {', '.join(source) or '(none)'}"
        )
        raise InvalidInputError(msg)
    bad_targets = [v for v in mapping.values() if v is not None and v not in loadable]
    if bad_targets:
        msg = (
            f"{label}: the column mapping targets {', '.join(map(repr, bad_targets))}, which "
            f"{spec.name} cannot load; its columns are: {', '.join(loadable)}"
        )
        raise InvalidInputError(msg)
    rename: dict[str, str] = {}
    extra: list[str] = []
    for col in source:
        if col in mapping:
            if mapping[col] is not None:
                rename[col] = mapping[col]  # type: ignore[assignment]
            else:
                report.dropped_columns.append(col)
        elif col in loadable:
            rename[col] = col
        elif col.lower() in lower and lower[col.lower()] not in mapping.values():
            rename[col] = lower[col.lower()]
        elif col in COMPUTED_COLUMNS or col.lower() in COMPUTED_COLUMNS:
            report.dropped_columns.append(col)
            report.notes.append(f"source column {col!r} ignored: FireTwin computes it")
        else:
            extra.append(col)
    if extra:
        if not ignore_extra:
            msg = (
                f"{label}: column(s) {', '.join(map(repr, extra))} are not columns of "
                f"{spec.name}; map them with columns={{source: target}}, or pass "
                f"ignore_extra=True to drop them. {spec.name} columns: {', '.join(loadable)}"
            )
            raise InvalidInputError(msg)
        report.dropped_columns.extend(extra)
    targets = list(rename.values())
    twice = sorted({t for t in targets if targets.count(t) > 1})
    if twice:
        msg = f"{label}: several source columns load into {', '.join(twice)}"
        raise InvalidInputError(msg)
    missing = [c for c in spec.required if c not in targets]
    if missing:
        msg = (
            f"{label}: required column(s) {', '.join(missing)} of {spec.name} are missing "
            f"(map source columns to them with columns={{source: target}}); "
            f"input columns: {', '.join(source) or '(none)'}"
        )
        raise InvalidInputError(msg)
    return rename


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """Spread the low 32 bits of ``v`` to the even bit positions of a uint64."""
    v = v.astype(np.uint64) & np.uint64(0xFFFFFFFF)
    for shift, mask in (
        (16, 0x0000FFFF0000FFFF),
        (8, 0x00FF00FF00FF00FF),
        (4, 0x0F0F0F0F0F0F0F0F),
        (2, 0x3333333333333333),
        (1, 0x5555555555555555),
    ):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def spatial_order(geoms: np.ndarray) -> np.ndarray:
    """Positions of ``geoms`` (EPSG:4326) along a Z-order curve of their anchor points.

    Rows written in this order make the GiST indexes faster to build (about twice as fast
    for ``geom::geography``) and keep neighbours in the same heap pages.
    """
    pts = anchor_points(geoms)
    x = np.nan_to_num(shapely.get_x(pts), nan=0.0)
    y = np.nan_to_num(shapely.get_y(pts), nan=0.0)
    qx = (np.clip((x + 180.0) / 360.0, 0, 1) * 0xFFFFFFFF).astype(np.uint64)
    qy = (np.clip((y + 90.0) / 180.0, 0, 1) * 0xFFFFFFFF).astype(np.uint64)
    return np.argsort(_spread_bits(qx) | (_spread_bits(qy) << np.uint64(1)), kind="stable")


class TableLoader:
    """Check and COPY chunks of rows into ``firetwin.<table>`` (see the module docstring)."""

    def __init__(
        self,
        conn: psycopg.Connection,
        table: str,
        *,
        report: ImportReport,
        noun: str = "feature",
        line_offset: int | None = None,
        skip_invalid: bool = False,
        repair: bool = False,
        expected_rows: int | None = None,
        bulk_min_rows: int = 50_000,
        progress: Progress | None = None,
        spec: TableSpec | None = None,
    ) -> None:
        self.conn = conn
        self.table = table
        self.report = report
        self.noun = noun
        self.line_offset = line_offset
        self.skip_invalid = skip_invalid
        self.repair = repair
        self.expected_rows = expected_rows or 0
        self.progress = progress
        self.spec = spec or table_spec(conn, table)
        self.grids = (
            grid_polygons(conn) if "grid_id" in self.spec.columns and table != "grid" else None
        )
        self._ident = sql.Identifier(SCHEMA, table)
        limit = max(self.expected_rows, 1)
        self.existing = conn.execute(
            sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT %s) s").format(self._ident),
            (limit,),
        ).fetchone()[0]
        self.seen: dict[str, set[Any]] = {c: set() for c in self.spec.unique}
        self.fk_known: dict[str, set[Any]] = {c: set() for c in self.spec.foreign_keys}
        self._defaults: dict[str, Any] = {}
        self._restore: list[sql.Composable] = []
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[int] | None = None
        self.loaded = 0
        self.ids_given = False
        self.bulk = self.expected_rows >= bulk_min_rows and self.existing < self.expected_rows
        if self.bulk:
            self._drop_secondary()

    # ---------------------------------------------------------------- bulk mode

    def _drop_secondary(self) -> None:
        reg = f"{SCHEMA}.{self.table}"
        indexes = self.conn.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid "
            " AND c.conrelid = i.indrelid) ORDER BY 1",
            (reg,),
        ).fetchall()
        constraints = self.conn.execute(
            "SELECT c.conname, pg_get_constraintdef(c.oid), c.contype FROM pg_constraint c "
            "WHERE c.conrelid = %s::regclass AND (c.contype = 'f' OR (c.contype = 'u' AND NOT "
            "EXISTS (SELECT 1 FROM pg_constraint r WHERE r.contype = 'f' "
            "AND r.conindid = c.conindid))) ORDER BY c.contype DESC, c.conname",
            (reg,),
        ).fetchall()
        for name, _definition in indexes:
            self.conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
        for name, _definition, _ in constraints:
            self.conn.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    self._ident, sql.Identifier(name)
                )
            )
        self._restore = [sql.SQL(d) for _, d in indexes] + [  # type: ignore[arg-type]
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                self._ident,
                sql.Identifier(name),
                sql.SQL(d),  # type: ignore[arg-type]
            )
            for name, d, _ in constraints
        ]
        mem = self.conn.execute(
            "SELECT setting::bigint * 1024 FROM pg_settings WHERE name = 'maintenance_work_mem'"
        ).fetchone()[0]
        if mem < 256 * 2**20:
            self.conn.execute("SET LOCAL maintenance_work_mem = '256MB'")

    # ------------------------------------------------------------------- checks

    def _default(self, column: str) -> Any:
        if column not in self._defaults:
            expr = self.spec.columns[column].default
            self._defaults[column] = self.conn.execute(
                sql.SQL("SELECT {}").format(sql.SQL(expr))  # type: ignore[arg-type]
            ).fetchone()[0]
        return self._defaults[column]

    def _label(self, index: int, ident: tuple[str, Any] | None) -> str:
        text = f"{self.noun} {index}"
        if self.line_offset is not None:
            text += f" (line {index + self.line_offset})"
        if ident is not None:
            text += f" ({ident[0]}={ident[1]})"
        return text

    def _unique_and_fk(self, attrs: pd.DataFrame, problems: Problems) -> None:
        for col in self.spec.unique:
            if col not in attrs:
                continue
            values = attrs[col].to_numpy(dtype=object)
            present = pd.notna(attrs[col]).to_numpy()
            seen = self.seen[col]
            if seen:
                again = np.fromiter((v in seen for v in values), bool, len(values)) & present
                for p in np.flatnonzero(again).tolist():
                    problems.setdefault(p, []).append(
                        f"{col} {values[p]!r} appears more than once in the input"
                    )
            if self.existing and present.any():
                rows = self.conn.execute(
                    sql.SQL("SELECT {c} FROM {t} WHERE {c} = ANY(%s)").format(
                        c=sql.Identifier(col), t=self._ident
                    ),
                    ([v.item() if hasattr(v, "item") else v for v in values[present]],),
                ).fetchall()
                taken = {r[0] for r in rows}
                for p in np.flatnonzero(present).tolist():
                    if values[p] in taken:
                        problems.setdefault(p, []).append(
                            f"{col} {values[p]!r} already exists in {self.table}"
                        )
        for col, (ref, ref_col) in self.spec.foreign_keys.items():
            if col not in attrs or col in COMPUTED_COLUMNS:
                continue
            present = pd.notna(attrs[col]).to_numpy()
            if not present.any():
                continue
            values = attrs[col].to_numpy(dtype=object)
            known = self.fk_known[col]
            wanted = set(values[present].tolist()) - known
            if wanted:
                rows = self.conn.execute(
                    sql.SQL("SELECT {c} FROM {t} WHERE {c} = ANY(%s)").format(
                        c=sql.Identifier(ref_col), t=sql.Identifier(SCHEMA, ref)
                    ),
                    (sorted(wanted),),
                ).fetchall()
                known.update(r[0] for r in rows)
            for p in np.flatnonzero(present).tolist():
                if values[p] not in known:
                    problems.setdefault(p, []).append(
                        f"{col} {values[p]!r} does not exist in {ref}"
                    )

    # --------------------------------------------------------------------- load

    def add(
        self,
        frame: gpd.GeoDataFrame,
        *,
        first_index: int = 0,
        problems: Problems | None = None,
    ) -> int:
        """Check one chunk and COPY its good rows; return how many were written.

        ``frame`` is in EPSG:4326 with table column names; its rows are source items
        ``first_index``, ``first_index + 1``, ... ; ``problems`` are those already found while
        reading (by position in the chunk). Messages name a row by its index and its
        ``code``, ``id`` or ``osm_id``.
        """
        n = len(frame)
        if n == 0:
            return 0
        t_check = time.perf_counter()
        frame = frame.reset_index(drop=True)
        problems = {p: list(r) for p, r in (problems or {}).items()}
        geoms, geom_problems, repaired, dropped = check_geometries(
            np.asarray(frame.geometry.values, dtype=object),
            self.spec.geometry_type,
            nullable=self.spec.columns["geom"].nullable if "geom" in self.spec.columns else True,
            repair=self.repair,
        )
        if repaired:
            self.report.repaired[self.table] = self.report.repaired.get(self.table, 0) + repaired
        attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        key = next((c for c in IDENT_COLUMNS if c in attrs), None)
        raw_ids = attrs[key].to_numpy(dtype=object) if key else None

        def ident(p: int) -> tuple[str, Any] | None:
            if raw_ids is None or pd.isna(raw_ids[p]):
                return None
            return key, raw_ids[p]  # type: ignore[return-value]

        needs_default = [
            c
            for c in attrs
            if not self.spec.columns[c].nullable
            and self.spec.columns[c].default is not None
            and not self.spec.columns[c].default.startswith("nextval(")  # type: ignore[union-attr]
            and attrs[c].isna().any()
        ]
        attrs, attr_problems = check_attributes(
            attrs, self.spec, defaults={c: self._default(c) for c in needs_default}
        )
        for p, reasons in geom_problems.items():
            if p in problems:  # already failed while reading: its geometry could not be made
                reasons = [r for r in reasons if r != "geometry is missing or empty"]
            if reasons:
                problems.setdefault(p, []).extend(reasons)
        for p, reasons in attr_problems.items():
            problems.setdefault(p, []).extend(reasons)
        self._unique_and_fk(attrs, problems)
        if dropped:
            self.report.rejected.extend(
                Rejection(
                    table=self.table,
                    index=first_index + p,
                    ident=None if ident(p) is None else str(ident(p)[1]),  # type: ignore[index]
                    reason="; ".join(dropped[p]),
                    label=self._label(first_index + p, ident(p)),
                )
                for p in sorted(dropped)
                if p not in problems
            )
        if problems:
            rejections = [
                Rejection(
                    table=self.table,
                    index=first_index + p,
                    ident=None if ident(p) is None else str(ident(p)[1]),  # type: ignore[index]
                    reason="; ".join(problems[p]),
                    label=self._label(first_index + p, ident(p)),
                )
                for p in sorted(problems)
            ]
            if not self.skip_invalid:
                raise ImportRejectedError(
                    rejections[:MAX_LISTED], more=max(0, len(rejections) - MAX_LISTED)
                )
            self.report.rejected.extend(rejections)
        keep = np.ones(n, dtype=bool)
        keep[[*problems, *dropped]] = False
        if not keep.any():
            return 0
        good = attrs[keep] if not keep.all() else attrs
        for col in self.seen:
            if col in good:
                self.seen[col].update(v for v in good[col].tolist() if v is not None and v == v)
        if "id" in good:
            self.ids_given = True
        kept = np.flatnonzero(keep)
        good = good.set_axis(kept + first_index)
        out = gpd.GeoDataFrame(good, geometry=geoms[keep], crs=SRID)
        if self.bulk:  # the indexes are built after the load: write neighbours together
            order = spatial_order(np.asarray(out.geometry.values, dtype=object))
            out, kept = out.iloc[order], kept[order]
        self.report.timed("check", time.perf_counter() - t_check)
        self._submit(out, lambda q: ident(int(kept[q])))
        return len(out)

    # ------------------------------------------------------------ the COPY thread

    def _submit(self, out: gpd.GeoDataFrame, ident: Callable[[int], Any]) -> None:
        """COPY ``out`` from a worker thread, after the previous chunk's COPY has finished.

        While the server stores one chunk, the caller reads and checks the next; the
        connection serialises the two threads' statements.
        """
        t0 = time.perf_counter()
        self._wait()
        self.report.timed("wait for COPY", time.perf_counter() - t0)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="firetwin-copy")
        self._pending = self._pool.submit(self._copy, out, ident)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if kind is not None and self._pending is not None:
                self._pending.exception()  # let it end; the caller's error wins
                self._pending = None
            self._wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def _copy(self, out: gpd.GeoDataFrame, ident: Callable[[int], Any]) -> int:
        step = f"loading {self.table}"
        total = max(self.expected_rows, self.loaded + len(out))

        def tick(k: int) -> None:
            self.loaded += k
            if self.progress is not None:
                self.progress(step, self.loaded, max(total, self.loaded))

        t0 = time.perf_counter()
        try:
            return copy_frame(
                self.conn, self.table, out, grids=self.grids, progress=tick, binary=True
            )
        except psycopg.Error as e:
            diag = e.diag
            where = ""
            m = re.search(r"line (\d+)", diag.context or "")
            if m and 0 < int(m.group(1)) <= len(out):
                p = int(m.group(1)) - 1
                where = " at " + self._label(int(out.index[p]), ident(p))
            msg = (
                f"{self.table}: the database refused the input{where}: "
                f"{diag.message_primary or e}; nothing was stored"
            )
            raise InvalidInputError(msg) from e
        finally:
            self.report.timed("copy (thread)", time.perf_counter() - t0)

    def finish(self) -> int:
        """Wait for the last COPY, recreate what bulk mode dropped, fix the id sequence, and
        return the rows loaded."""
        t0 = time.perf_counter()
        self._wait()
        self.report.timed("wait for COPY", time.perf_counter() - t0)
        if self._restore:
            step = f"indexing {self.table}"
            for i, stmt in enumerate(self._restore):
                if self.progress is not None:
                    self.progress(step, i, len(self._restore))
                t0 = time.perf_counter()
                self.conn.execute(stmt)
                name = stmt.as_string(self.conn).split(" ON ")[0].split(" (")[0][:60]
                self.report.timed(f"rebuild: {name}", time.perf_counter() - t0)
            if self.progress is not None:
                self.progress(step, len(self._restore), len(self._restore))
            self._restore = []
        if self.ids_given and "id" in self.spec.columns:
            self.conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence(%s, 'id'), m) "
                    "FROM (SELECT max(id) AS m FROM {}) s WHERE m IS NOT NULL"
                ).format(self._ident),
                (f"{SCHEMA}.{self.table}",),
            )
        if self.bulk and self.loaded:
            t0 = time.perf_counter()
            self.conn.execute(sql.SQL("ANALYZE {}").format(self._ident))
            self.report.timed("analyze", time.perf_counter() - t0)
        self.report.add_loaded(self.table, self.loaded)
        return self.loaded
