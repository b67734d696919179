"""The double-random draw: size, high-risk share, reproducibility, risk-weighted chances."""

from __future__ import annotations

import numpy as np
import pytest

from gis.risk.double_random import draw

SCORES = np.linspace(0, 100, 1000)
HIGH = SCORES >= 90  # 100 high-risk units
INSPECTORS = np.array([21, 22, 23])


def _draw(seed: int, **kw):
    opts = {"sample_share": 0.1, "high_risk_share": 0.3, "weight_floor": 10.0, **kw}
    return draw(SCORES, HIGH, INSPECTORS, seed=seed, **opts)


@pytest.mark.parametrize("share", [0.0, 0.3, 0.5, 1.0])
def test_high_risk_share_is_respected(share):
    d = _draw(1, high_risk_share=share)
    assert len(d.index) == 100 == len(set(d.index.tolist()))
    assert int((d.stratum == "high_risk").sum()) == round(share * 100)
    assert HIGH[d.index[d.stratum == "high_risk"]].all()


def test_more_high_risk_wanted_than_exist_takes_them_all():
    d = _draw(1, sample_share=0.5, high_risk_share=0.5)  # 250 wanted, 100 exist
    assert int((d.stratum == "high_risk").sum()) == 100
    assert len(d.index) == 500


def test_reproducible_by_seed():
    a, b, c = _draw(7), _draw(7), _draw(8)
    assert a.index.tolist() == b.index.tolist() and a.inspector.tolist() == b.inspector.tolist()
    assert a.index.tolist() != c.index.tolist()


def test_inspectors_drawn_and_balanced():
    d = _draw(3)
    counts = np.bincount(d.inspector)[INSPECTORS]
    assert set(d.inspector.tolist()) == set(INSPECTORS.tolist())
    assert counts.max() - counts.min() <= 1


def test_chance_rises_with_risk():
    hits = np.zeros(len(SCORES))
    for seed in range(200):
        hits[_draw(seed, high_risk_share=0.0).index] += 1
    low, mid, high = hits[:300].mean(), hits[350:650].mean(), hits[700:].mean()
    assert low < mid < high
    assert hits[:100].min() >= 0 and hits[:100].sum() > 0  # low-risk units can be drawn too
