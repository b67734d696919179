"""The cockpit's rectification Gantt in headless Chromium, against a real server and PostGIS.

Read-only on the shared web district (``tests/web/conftest.py``): the expected bars are rebuilt
here from the hazard rows with plain SQL and the deadline rule (rectify_due_at, else the start
plus the tier's period), and compared with the API and with the chart the page drew.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import psycopg
import pytest

from services.workflows.hazard_rules import HazardSettings
from tests.web.conftest import SCREENSHOTS, map_url

pytestmark = pytest.mark.postgis

SQL = """
SELECT id, grid_id, tier, coalesce(verified_at, reported_at) AS start_at, rectify_due_at
FROM firetwin.hazard
WHERE tier IN ('red', 'orange') AND status IN ('reported', 'verified', 'rectifying')
  AND reported_at <= %s
"""


def _expected(url: str, now: datetime, *, grids: set[int] | None = None) -> dict[int, dict]:
    s = HazardSettings()
    out = {}
    with psycopg.connect(url) as conn:
        for hid, grid, tier, start, due in conn.execute(SQL, (now,)).fetchall():
            if grids is not None and grid not in grids:
                continue
            deadline = due or start + timedelta(days=getattr(s, f"{tier}_days"))
            out[hid] = {"deadline": deadline, "overdue": deadline < now, "tier": tier}
    return out


def _get(base: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{base}/api/cockpit/rectification?limit=2000", headers=headers, timeout=30)


def test_gantt_api_matches_sql_in_each_scope(web_server, web_db, tokens):
    assert _get(web_server, None).status_code == 401  # the cockpit is for staff
    admin = _get(web_server, tokens["admin"]).json()
    now = datetime.fromisoformat(admin["as_of"])
    expected = _expected(web_db[0], now)
    assert expected, "the web district should have open red/orange hazards"
    got = {h["id"]: h for h in admin["items"]}
    assert set(got) == set(expected)
    assert admin["total"] == len(expected)
    assert admin["overdue"] == sum(e["overdue"] for e in expected.values())
    assert admin["by_tier"]["red"] == sum(e["tier"] == "red" for e in expected.values())
    for hid, e in expected.items():
        assert datetime.fromisoformat(got[hid]["deadline"]) == e["deadline"]
        assert got[hid]["overdue"] == e["overdue"]
        assert got[hid]["deadline_set"] is False  # the district's hazards have no due dates
    deadlines = [h["deadline"] for h in admin["items"]]
    assert deadlines == sorted(deadlines)  # earliest deadline first
    # The grid worker sees the bars of grid G1 only (the hazards layer's scope condition).
    worker = _get(web_server, tokens["worker"]).json()
    assert {h["id"] for h in worker["items"]} == set(_expected(web_db[0], now, grids={1}))
    assert 0 < worker["total"] < admin["total"]


def test_cockpit_draws_the_gantt(open_page, web_server, district, tokens):
    page = open_page(map_url(web_server, district, hash_="#cockpit"), token=tokens["admin"])
    page.wait_for_function("window.firetwin.cockpit && window.firetwin.cockpit.ready",
                           timeout=60_000)
    drawn = page.evaluate("""() => {
        const g = window.firetwin.cockpit.gantt;
        const chart = Chart.getChart(document.getElementById('chart-gantt'));
        const ds = chart.data.datasets;
        return {total: g.body.total, overdue: g.body.overdue, n: g.bars.length,
                labels: chart.data.labels,
                codes: g.body.items.slice(0, g.bars.length).map(h => h.code),
                late: ds[2].data.filter(v => v).length,
                lateExpected: g.body.items.slice(0, g.bars.length).filter(h => h.overdue).length,
                elapsed: ds[0].data.length,
                visible: chart.getDatasetMeta(0).data.filter(b => b.width > 0).length,
                summary: document.getElementById('gantt-summary').textContent};
    }""")
    assert drawn["n"] == min(drawn["total"], 40)
    assert drawn["labels"] == drawn["codes"]  # one row per hazard, earliest deadline first
    assert drawn["elapsed"] == drawn["n"] and drawn["visible"] == drawn["n"]
    assert drawn["late"] == drawn["lateExpected"] > 0  # overdue part highlighted
    assert f"超期 {drawn['overdue']}" in drawn["summary"]
    assert page.errors == []
    page.locator("#gantt").scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#gantt").screenshot(path=str(SCREENSHOTS / "test-cockpit-gantt.png"))
