"""A committed planted-risk district shared by the risk tests (built once per session)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import fresh_sibling_database
from tests.risk.plant import plant_history, plant_units
from tests.services import small_district


@pytest.fixture(scope="session")
def risk_url(db_url) -> str:
    url = fresh_sibling_database(db_url, "_risk")
    small_district.build(url)
    with psycopg.connect(url) as conn:
        units = plant_units(conn)
        plant_history(conn, units)
        conn.execute("INSERT INTO firetwin.app_user (id, username, display_name, role) VALUES "
                     "(11, 'inspector2', '检查员二', 'inspector')")
    return url


@pytest.fixture
def rconn(risk_url) -> Iterator[psycopg.Connection]:
    """A connection to the planted district whose work is rolled back after the test."""
    with psycopg.connect(risk_url) as c:
        yield c
        c.rollback()
