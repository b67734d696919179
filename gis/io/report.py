"""What an import did: rows loaded per table, rows rejected with the reason, and notes."""

from __future__ import annotations

from dataclasses import dataclass, field

from gis.errors import InvalidInputError

__all__ = ["ImportRejectedError", "ImportReport", "Rejection"]


@dataclass(frozen=True)
class Rejection:
    """One input row or feature that was not loaded, and why."""

    table: str
    index: int  # position in the source: feature index (0-based) or CSV data row (0-based)
    ident: str | None  # its id/code in the source, if it has one
    reason: str
    label: str = ""  # how the source names it, e.g. "feature 12 (code=U-12)"

    def __str__(self) -> str:
        return f"{self.table} {self.label or self.index}: {self.reason}"


@dataclass
class ImportReport:
    """Result of an import: ``loaded`` rows per table, ``rejected`` rows with reasons."""

    source: str
    loaded: dict[str, int] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    repaired: dict[str, int] = field(default_factory=dict)
    dropped_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase, for tuning

    def timed(self, phase: str, seconds: float) -> None:
        self.timings[phase] = self.timings.get(phase, 0.0) + seconds

    @property
    def total_loaded(self) -> int:
        return sum(self.loaded.values())

    def add_loaded(self, table: str, n: int) -> None:
        self.loaded[table] = self.loaded.get(table, 0) + n

    def summary(self) -> str:
        """A short human-readable account (for the CLI and logs)."""
        parts = [f"{t}: {n:,}" for t, n in self.loaded.items()]
        text = f"{self.source}: loaded " + (", ".join(parts) if parts else "nothing")
        if self.rejected:
            text += f"; rejected {len(self.rejected):,} rows"
        if self.repaired:
            text += "; repaired " + ", ".join(f"{t}: {n:,}" for t, n in self.repaired.items())
        return text + f" in {self.seconds:.1f} s"


class ImportRejectedError(InvalidInputError):
    """Rows of the input are invalid, so nothing was stored; ``rejections`` lists them."""

    def __init__(self, rejections: list[Rejection], *, more: int = 0) -> None:
        self.rejections = rejections
        first = rejections[0]
        others = len(rejections) - 1 + more
        msg = str(first)
        if others:
            msg += f" (and {others:,} more invalid row{'s' if others > 1 else ''})"
        msg += "; nothing was stored"
        super().__init__(msg)
