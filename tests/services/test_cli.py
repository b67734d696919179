"""The `firetwin` CLI against a real PostGIS (a database of its own beside the test database)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from services.cli import app

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def cli_db_url(db_url):
    parts = urlsplit(db_url)
    name = parts.path.lstrip("/") + "_cli"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def run(cli_db_url, monkeypatch):
    monkeypatch.setenv("FIRETWIN_DATABASE_URL", cli_db_url)
    runner = CliRunner()

    def _run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return _run


def test_db_url_prints_the_configured_url(run, cli_db_url):
    r = run("db", "url")
    assert r.exit_code == 0
    assert r.stdout.strip() == cli_db_url


def test_db_status_reports_external_database(run):
    r = run("db", "status")
    assert r.exit_code == 0
    assert '"external": true' in r.stdout
    assert ":***@" in r.stdout  # password redacted


def test_demo_loads_then_refuses_to_overwrite(run, cli_db_url):
    r = run("demo", "--scale", "0.02", "--seed", "7", "--replace")
    assert r.exit_code == 0, r.output
    assert "unit" in r.stdout
    with psycopg.connect(cli_db_url) as c:
        units = c.execute("SELECT count(*) FROM firetwin.unit").fetchone()[0]
        seed = c.execute("SELECT seed FROM demo_truth.generation").fetchone()[0]
    assert units > 0
    assert seed == 7
    again = run("demo", "--scale", "0.02")
    assert again.exit_code == 1
    assert "--replace" in again.output
    assert "already loaded" in run("demo", "--if-empty").stdout


def test_db_reset_needs_confirmation_and_empties(run, cli_db_url):
    aborted = run("db", "reset", input="n\n")
    assert aborted.exit_code != 0
    r = run("db", "reset", "--yes")
    assert r.exit_code == 0
    with psycopg.connect(cli_db_url) as c:
        assert c.execute("SELECT count(*) FROM firetwin.unit").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM firetwin.role").fetchone()[0] == 8
