"""Progress bars for long CLI work (rich), as a ``progress(step, done, total)`` callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

ProgressFn = Callable[[str, int, int], None]


@contextmanager
def progress_bars(console: Console | None = None) -> Iterator[ProgressFn]:
    """Yield a callback that draws one bar per step name; ``done``/``total`` are absolute."""
    console = console or Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=max(total, 1))
            bar.update(tasks[step], completed=done, total=max(total, 1))

        yield update
