"""Root pytest hooks: with FIRETWIN_FAIL_ON_SKIP=1 (make test, CI) a skipped test fails the run."""

from __future__ import annotations

import os

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("FIRETWIN_FAIL_ON_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        if reporter:
            reporter.write_line(
                f"FAILED: {len(skipped)} test(s) skipped; skips are failures in CI", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
