"""The live view of a run on a terminal (rich): rows done of total, rows/s, ETA, counts by
status and the current retry/backoff; then a summary table. Only on a TTY, never with --quiet.

It reads the run's Timeline from a background thread; the import itself knows nothing of it.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Group

    from .report import Summary
    from .timeline import Timeline

__all__ = ["LiveProgress", "summary_line", "summary_table"]

STYLES = {
    "created": "green",
    "updated": "blue",
    "unchanged": "grey50",
    "valid": "green",
    "skipped": "grey50",
    "invalid": "dark_orange",
    "failed": "red",
}


class LiveProgress:
    """``with LiveProgress(timeline, label): run_import(...)``."""

    def __init__(self, timeline: Timeline, label: str, refresh: float = 0.25) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.timeline = timeline
        self._refresh = refresh
        self._stop = threading.Event()
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._task = self.progress.add_task(label, total=None, speed="")
        self._status = ""
        self.live = Live(self, console=self.console, transient=True, refresh_per_second=4)
        self._thread = threading.Thread(target=self._loop, name="kelviq-progress", daemon=True)

    def __rich__(self) -> Group:
        from rich.console import Group
        from rich.text import Text

        return Group(self.progress, Text.from_markup(self._status))

    def __enter__(self) -> LiveProgress:
        self.live.start()
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(2)
        self._update()
        self.live.stop()

    def _loop(self) -> None:
        while not self._stop.wait(self._refresh):
            self._update()

    def _update(self) -> None:
        t = self.timeline
        done = t.done
        elapsed = max(t.clock() - t.started, 1e-9)
        counts = "  ".join(f"[{STYLES.get(k, 'white')}]{k} {v:,}[/]" for k, v in sorted(t.counts.items()))
        backoff = t.backoff()
        self.progress.update(
            self._task,
            total=t.total or None,
            completed=done,
            speed=f"{done / elapsed:,.0f} rows/s",
        )
        self._status = "  " + (counts or "starting…") + (f"\n  [yellow]{backoff}[/]" if backoff else "")


def summary_table(summary: Summary) -> object:
    """The final table: one line per status, then time, speed, requests and where the report is."""
    from rich.table import Table

    table = Table(title=f"{summary.input.rsplit('/', 1)[-1]}: {summary.rows:,} rows", title_justify="left")
    table.add_column("status")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    for status, n in summary.counts.items():
        share = f"{100 * n / summary.rows:.1f}%" if summary.rows else ""
        table.add_row(f"[{STYLES.get(status, 'white')}]{status}[/]", f"{n:,}", share)
    return table


def summary_line(summary: Summary) -> str:
    extra = summary.extra
    return (
        f"{summary.duration_s:.1f} s, {summary.rows_per_second:,.1f} rows/s, "
        f"{extra.get('requests', 0):,} requests, {extra.get('retries', 0):,} retries"
    )
