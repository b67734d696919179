"""Report settings (``FIRETWIN_REPORTS_*``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.settings import DatabaseSettings


class ReportSettings(BaseSettings):
    """Where reports are stored, how PDFs are printed, and the schedule's pace."""

    model_config = SettingsConfigDict(env_prefix="FIRETWIN_REPORTS_", extra="ignore")

    dir: Path | None = Field(default=None, description="Report store (default: "
                             "<FIRETWIN_HOME>/reports/<database name>).")
    chromium: str | None = Field(default=None, description="The browser that prints the PDFs "
                                 "(default: `chromium` on PATH, Debian's package).")
    pdf_timeout_s: float = Field(default=90, description="Longest wait for one PDF.")
    concurrency: int = Field(default=2, ge=1, le=16, description="PDFs printed side by side.")
    schedule_check_s: float = Field(default=900, ge=1, description="How often `firetwin "
                                    "reports schedule` looks for a period to report.")
    trend_weeks: int = Field(default=8, ge=2, le=52, description="Weeks in a weekly trend.")
    trend_months: int = Field(default=12, ge=2, le=36, description="Months in a monthly trend.")
    top_hazards: int = Field(default=15, ge=1, le=200, description="Open major hazards listed.")

    def store_dir(self, db: DatabaseSettings | None = None, *, database_url: str = "") -> Path:
        """FIRETWIN_REPORTS_DIR, else a folder per database under the FireTwin home (reports of
        different databases never mix).

        >>> ReportSettings(dir=None).store_dir(DatabaseSettings(home="/srv/ft"),
        ...     database_url="postgresql://u@h:5432/firetwin?sslmode=require").as_posix()
        '/srv/ft/reports/firetwin'
        """
        if self.dir is not None:
            return self.dir
        name = urlsplit(database_url).path.strip("/") or "default"
        return (db or DatabaseSettings()).home / "reports" / name

    def chromium_path(self) -> str:
        path = self.chromium or shutil.which("chromium") or shutil.which("chromium-browser")
        if not path:
            msg = ("no chromium to print PDF reports: install Debian's chromium "
                   "(scripts/install-system.sh) or set FIRETWIN_REPORTS_CHROMIUM")
            raise RuntimeError(msg)
        return path
