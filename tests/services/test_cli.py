"""The `firetwin` CLI against a real PostGIS (a database of its own beside the test database)."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from gis import vocab
from services.cli import app
from tests.conftest import fresh_sibling_database

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def cli_db_url(db_url):
    return fresh_sibling_database(db_url, "_cli", migrated=False)


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
        assert c.execute("SELECT count(*) FROM firetwin.role").fetchone()[0] == len(vocab.ROLES)


def test_import_csv_good_then_bad_file_stores_nothing(run, cli_db_url, tmp_path):
    good = tmp_path / "hydrants.csv"
    good.write_text("code,kind,status,lon,lat\nCSV-H1,hydrant,in_service,118.95,42.27\n"
                    "CSV-H2,hydrant,faulty,118.96,42.28\n", encoding="utf-8")
    r = run("import", "csv", str(good), "--table", "facility")
    assert r.exit_code == 0, r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("code,kind,status,lon,lat\nCSV-H3,hydrant,in_service,118.95,42.27\n"
                   "CSV-H4,hydrant,broken,118.96,95.0\n", encoding="utf-8")
    r = run("import", "csv", str(bad), "--table", "facility")
    assert r.exit_code == 1
    assert "nothing was stored" in r.output
    with psycopg.connect(cli_db_url) as c:
        codes = {row[0] for row in c.execute(
            "SELECT code FROM firetwin.facility WHERE code LIKE 'CSV-%'")}
        assert codes == {"CSV-H1", "CSV-H2"}
        assert c.execute("SELECT count(*) FROM firetwin.facility WHERE code LIKE 'CSV-%' "
                         "AND (h3_r9 IS NULL)").fetchone()[0] == 0
    r = run("import", "csv", str(bad), "--table", "facility", "--skip-invalid",
            "--reject-file", str(tmp_path / "rejects.txt"))
    assert r.exit_code == 0, r.output
    assert "CSV-H4" in (tmp_path / "rejects.txt").read_text() or "1" in (
        tmp_path / "rejects.txt").read_text()
    with psycopg.connect(cli_db_url) as c:
        assert c.execute("SELECT count(*) FROM firetwin.facility WHERE code = 'CSV-H3'"
                         ).fetchone()[0] == 1


def test_users_add_and_token(run, cli_db_url, monkeypatch):
    import jwt

    monkeypatch.setenv("FIRETWIN_SECRET_KEY", "cli-test-secret-0123456789abcdefghijklmnop")
    r = run("users", "add", "disp1", "--role", "dispatcher", "--name", "值班员")
    assert r.exit_code == 0, r.output
    assert run("users", "add", "disp1", "--role", "dispatcher").exit_code == 1
    assert run("users", "add", "x", "--role", "king").exit_code == 1
    tok = run("users", "token", "disp1").stdout.strip()
    claims = jwt.decode(tok, "cli-test-secret-0123456789abcdefghijklmnop", algorithms=["HS256"])
    assert claims["role"] == "dispatcher"
    assert run("users", "token", "nobody").exit_code == 1


def test_users_password_and_region(run, cli_db_url):
    from services.auth import verify_password

    with psycopg.connect(cli_db_url) as c:
        c.execute("INSERT INTO firetwin.region (code, name, level, geom, h3_r7, h3_r9, h3_r11) "
                  "VALUES ('S9', '九街道', 'street', ST_Multi(ST_Expand(ST_Point(120, 30, 4326), "
                  "0.01)), 1, 1, 1) ON CONFLICT DO NOTHING")
    r = run("users", "add", "so9", "--role", "street_officer", "--region", "S9", "--password",
            input="long enough pw\nlong enough pw\n")
    assert r.exit_code == 0, r.output
    assert run("users", "add", "so10", "--role", "street_officer", "--region", "NOPE").exit_code == 1
    assert run("users", "add", "short", "--role", "admin", "--password",
               input="short\nshort\n").exit_code == 1
    assert run("users", "passwd", "so9", input="another secret\nanother secret\n").exit_code == 0
    assert run("users", "passwd", "ghost", input="another secret\nanother secret\n").exit_code == 1
    with psycopg.connect(cli_db_url) as c:
        rows = c.execute("SELECT u.username, r.code, u.password_hash FROM firetwin.app_user u "
                         "LEFT JOIN firetwin.region r ON r.id = u.region_id "
                         "WHERE username IN ('so9', 'so10', 'short')").fetchall()
    assert [(u, code) for u, code, _ in rows] == [("so9", "S9")]
    assert verify_password(rows[0][2], "another secret")
    assert not verify_password(rows[0][2], "long enough pw")


def test_hazards_escalate_sweeps_overdue_hazards(run, cli_db_url):
    from gis import migrate

    migrate.upgrade(cli_db_url)
    with psycopg.connect(cli_db_url) as c:
        c.execute("INSERT INTO firetwin.hazard (code, category, subcategory, tier, source, title, "
                  "next_escalation_at, geom, h3_r7, h3_r9, h3_r11) VALUES ('ESC-1', 'gas', "
                  "'hose_aged', 'blue', 'grid_worker', '软管', '2026-07-01T00:00Z', "
                  "ST_SetSRID(ST_Point(120, 30), 4326), 1, 2, 3)")
    assert run("hazards", "escalate", "--at", "yesterday").exit_code == 1
    r = run("hazards", "escalate", "--at", "2026-07-01T12:00Z")
    assert r.exit_code == 0, r.output
    assert "escalated 1 overdue" in r.output
    with psycopg.connect(cli_db_url) as c:
        assert c.execute("SELECT tier, escalations FROM firetwin.hazard WHERE code = 'ESC-1'"
                         ).fetchone() == ("yellow", 1)
