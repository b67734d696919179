"""Fault-test fixtures: a PostgreSQL cluster of the tests' own, a Mosquitto of their own.

``pg`` initialises and starts a throwaway cluster with ``gis.cluster`` — the code behind
``firetwin db start`` — in its own folder under ``.firetwin/`` and on its own port, run by the
same unprivileged user (``firetwin`` when the tests run as root). Stopping and starting it
disturbs no other test, benchmark or developer. It holds database ``firetwin_h9`` with the small
test district and the IoT test sensors.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from gis import cluster, migrate
from gis.settings import PROJECT_ROOT, DatabaseSettings
from services.iot import broker
from services.iot.settings import MqttSettings
from tests.conftest import free_port
from tests.iot.conftest import build_sensors
from tests.services import small_district as sd

DB_NAME = "firetwin_h9"
SECRET = "faults-h9-secret-key-not-for-production-0123456789"  # noqa: S105 - tests only
_n = itertools.count()


@dataclass
class Cluster:
    """A private PostgreSQL cluster the test may stop and start at will."""

    settings: DatabaseSettings
    url: str

    def stop(self) -> None:
        """Fast shutdown (``pg_ctl -m fast``): sessions are cut, open transactions roll back."""
        assert cluster.stop(self.settings)

    def start(self) -> None:
        cluster.ensure_running(self.settings, dbnames=(DB_NAME,))

    def rows(self, query: str, *args: object) -> list[tuple]:
        with psycopg.connect(self.url) as c:
            return c.execute(query, args).fetchall()


@pytest.fixture(scope="module")
def pg() -> Iterator[Cluster]:
    home = PROJECT_ROOT / ".firetwin" / f"pg-faults-h9-{os.getpid()}-{next(_n)}"
    settings = DatabaseSettings(database_url=None, home=home, db_port=free_port(),
                                db_name=DB_NAME)
    try:
        state = cluster.ensure_running(settings, dbnames=(DB_NAME,))
        url = state.url(DB_NAME)
        migrate.upgrade(url)
        sd.build(url)
        build_sensors(url)
        yield Cluster(settings, url)
    finally:
        cluster.stop(settings)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def mqtt() -> Iterator[tuple[MqttSettings, broker.Endpoint]]:
    """A private Mosquitto (own folder, own port) the test may restart; stopped afterwards."""
    home = PROJECT_ROOT / ".firetwin" / f"mosquitto-faults-h9-{os.getpid()}-{next(_n)}"
    settings = MqttSettings(url=None, home=home, port=18960, autosave_interval_s=1)
    ep = broker.ensure_running(settings)
    try:
        yield settings, ep
    finally:
        broker.stop(settings)
        shutil.rmtree(home, ignore_errors=True)
