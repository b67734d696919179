"""Training and scoring on the planted district: the planted factor ranks units, scores are
0–100 with consistent tiers and factors, cells and grids are aggregated, the version is kept."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from gis import vocab
from gis.risk.model import tiers
from gis.risk.settings import RiskSettings
from services.workflows.risk import score_units, train_model
from tests.risk.plant import FIRST_UNIT

pytestmark = pytest.mark.postgis


@pytest.fixture
def scored(rconn, tmp_path):
    s = RiskSettings(num_threads=1)
    row = train_model(rconn, cutoff=date(2025, 6, 30), settings=s, directory=tmp_path,
                      version="test-v1")
    res = score_units(rconn, as_of=date(2026, 6, 30), settings=s, directory=tmp_path)
    return row, res


def test_planted_factor_gets_higher_scores(scored, rconn):
    row, res = scored
    assert res["version"] == "test-v1" and res["units"] >= 600
    bad, good = rconn.execute(
        "SELECT avg(score) FILTER (WHERE unit_id %% 3 = 0), "
        "avg(score) FILTER (WHERE unit_id %% 3 <> 0) "
        "FROM firetwin.risk_score WHERE unit_id >= %s", (FIRST_UNIT,)).fetchone()
    assert bad > good + 30
    later = row["metrics"]["later"]
    assert later["model"]["auc"] > 0.75
    assert later["model"]["auc"] > later["random"]["auc"]


def test_scores_tiers_and_factors_are_consistent(scored, rconn):
    rows = rconn.execute(
        "SELECT score, tier, rank, factors FROM firetwin.risk_score ORDER BY rank").fetchall()
    score = np.array([r[0] for r in rows])
    assert ((score >= 0) & (score <= 100)).all()
    assert [r[1] for r in rows] == tiers(score).tolist()
    assert {r[1] for r in rows} <= set(vocab.RISK_TIERS)
    assert (np.diff(score) <= 1e-9).all()  # rank 1 is the highest score
    top = rows[0][3]["top"]
    assert 1 <= len(top) <= 3
    assert {"feature", "value", "log_odds"} <= set(top[0])
    assert all(f["log_odds"] > 0 for f in top)
    assert top == sorted(top, key=lambda f: -f["log_odds"])


def test_cells_grids_and_model_row(scored, rconn):
    _row, res = scored
    cells = dict(rconn.execute(
        "SELECT resolution, sum(units) FROM firetwin.risk_cell WHERE model_version = 'test-v1' "
        "GROUP BY 1").fetchall())
    assert cells == {7: res["units"], 9: res["units"]}
    n, high = rconn.execute("SELECT sum(units), sum(high_units) FROM firetwin.risk_grid").fetchone()
    assert n == res["units"] and high == res["tiers"]["high"] + res["tiers"]["very_high"]
    metrics, params = rconn.execute(
        "SELECT metrics, params FROM firetwin.risk_model WHERE version = 'test-v1'").fetchone()
    assert metrics["train"]["positives"] > 0 and params["snapshots"]
    assert params["snapshots"][-1] == "2024-06-30"


def test_scoring_twice_replaces_the_run(scored, rconn, tmp_path):
    _, res = scored
    again = score_units(rconn, as_of=date(2026, 6, 30), settings=RiskSettings(num_threads=1),
                        directory=tmp_path)
    n = rconn.execute("SELECT count(*) FROM firetwin.risk_score").fetchone()[0]
    assert n == again["units"] == res["units"]
