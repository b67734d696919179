"""``firetwin risk``: train the fire-risk model, score units, draw the double-random list."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gis.db import connect, database_url
from gis.errors import DatabaseUnavailableError, GisError
from gis.risk.settings import DoubleRandomSettings, RiskSettings, models_dir
from gis.settings import DatabaseSettings
from services.progress import progress_bars
from services.workflows.risk import score_units, train_model

app = typer.Typer(help="Fire-risk model: train, score, double-random inspection lists.",
                  no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _url() -> str:
    try:
        return database_url(DatabaseSettings())
    except DatabaseUnavailableError as e:
        err.print(f"[bold red]error:[/] {e.user_msg}")
        raise typer.Exit(1) from e


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {value!r}") from e


@app.command("train")
def train(
    cutoff: Annotated[str, typer.Option(help="Train on history up to this day (YYYY-MM-DD).")],
) -> None:
    """Train on snapshots before the cut-off; evaluate on the following 12 months if present."""
    s, db = RiskSettings(), DatabaseSettings()
    try:
        with connect(_url()) as conn, progress_bars(err) as bar:
            row = train_model(conn, cutoff=_day(cutoff), settings=s,
                              directory=models_dir(s, db.home), progress=bar)
            conn.commit()
    except (ValueError, GisError) as e:
        err.print(f"[bold red]error:[/] {getattr(e, 'user_msg', e)}")
        raise typer.Exit(1) from e
    out.print(f"model [bold]{row['version']}[/] → {row['params']['model_file']}")
    later = row["metrics"].get("later")
    if later is None:
        out.print("the period after the cut-off is not complete in the database: not evaluated")
        return
    table = Table("on the later period", "AUC", "PR-AUC", "lift 1 %", "lift 10 %",
                  "fires in top 10 %", title=f"as of {later['as_of']} → {later['window_end']}")
    for name in ("model", "most_hazards_last_year", "random"):
        m = later[name]
        table.add_row(name, f"{m['auc']:.3f}", f"{m['pr_auc']:.3f}", f"{m['lift_1pct']:.1f}",
                      f"{m['lift_10pct']:.1f}", f"{m['captured_top_10pct']:.1%}")
    out.print(table)


@app.command("score")
def score(
    as_of: Annotated[str, typer.Option("--as-of", help="Score as of this day (YYYY-MM-DD).")],
    version: Annotated[str | None, typer.Option(help="Model version (default: latest).")] = None,
) -> None:
    """Score every unit: 0–100, tier, rank and top factors; per H3 cell (r7, r9) and grid."""
    s, db = RiskSettings(), DatabaseSettings()
    try:
        with connect(_url()) as conn, progress_bars(err) as bar:
            res = score_units(conn, as_of=_day(as_of), settings=s, version=version,
                              directory=models_dir(s, db.home), progress=bar)
            conn.commit()
    except (LookupError, FileNotFoundError, GisError) as e:
        err.print(f"[bold red]error:[/] {getattr(e, 'user_msg', e)}")
        raise typer.Exit(1) from e
    out.print_json(json.dumps(res, default=str))


@app.command("double-random")
def double_random(
    month: Annotated[str, typer.Option(help="YYYY-MM")],
    seed: Annotated[int | None, typer.Option(help="Default: YYYYMM.")] = None,
    replace: Annotated[bool, typer.Option(help="Draw again if the month has a list.")] = False,
) -> None:
    """Draw the month's double-random inspection list from the latest scores."""
    import psycopg

    from gis.risk.queries import create_plan

    y, m = (int(p) for p in month.split("-"))
    first = date(y, m, 1)
    s = DoubleRandomSettings()

    async def go() -> dict:
        async with await psycopg.AsyncConnection.connect(_url()) as conn:
            res = await create_plan(
                conn, month=first, seed=seed if seed is not None else y * 100 + m,
                sample_share=s.sample_share, high_risk_share=s.high_risk_share,
                high_risk_tiers=s.high_risk_tiers, weight_floor=s.weight_floor,
                inspector_role=s.inspector_role, created_by=None, replace=replace)
            await conn.commit()
            return res

    try:
        out.print_json(json.dumps(asyncio.run(go()), default=str))
    except GisError as e:
        err.print(f"[bold red]error:[/] {e.user_msg}")
        raise typer.Exit(1) from e
