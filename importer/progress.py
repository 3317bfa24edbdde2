"""The live view of a run on a terminal (rich): rows done of total, rows/s, ETA, counts by
status and the current retry/backoff; then a summary table. Only on a TTY, never with --quiet.

rich's Live refreshes it from its own thread, reading a copy of the run's Timeline counts (a
dict copy is atomic under the GIL; iterating the live Counter while the loop adds a status is
not); the import itself knows nothing of it.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from .statuses import STATUS_COLOURS

if TYPE_CHECKING:
    from rich.console import Group

    from .report import Summary
    from .timeline import Timeline

__all__ = ["LiveProgress", "summary_line", "summary_table"]


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
        self.live = Live(self, console=self.console, transient=True, refresh_per_second=1 / refresh)

    def __rich__(self) -> Group:
        from rich.console import Group
        from rich.text import Text

        self._update()
        return Group(self.progress, Text.from_markup(self._status))

    def __enter__(self) -> LiveProgress:
        self.live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.live.stop()  # a last refresh shows the final counts

    def _update(self) -> None:
        t = self.timeline
        snapshot = t.snapshot_counts()
        done = sum(snapshot.values())
        elapsed = max(t.clock() - t.started, 1e-9)
        counts = "  ".join(
            f"[{STATUS_COLOURS.get(k, 'white')}]{k} {v:,}[/]" for k, v in sorted(snapshot.items())
        )
        backoff = t.backoff()
        aim, found, achieved = t.rates()
        pace = f"{achieved:,.0f} requests/s"
        if aim is not None:
            limit = f", API limit found ≈ {found:,.0f}/s" if found else ""
            pace += f" (aiming at {aim:,.0f}/s{limit})"
        if t.throttled:
            pace += f", {t.throttled:,} throttled"
        if t.pacer is not None and (paused := t.pacer.paused_for()) > 0:
            pace += f", paused {paused:,.0f} s more as the API's Retry-After asked"
        if t.pacer is not None and (t.pacer.throttled_answers or t.pacer.faults):
            # What the pacer made of them: rate signals move the rate, faults do not.
            pace += (
                f" ({t.pacer.throttled_answers:,} read as throttling, {t.pacer.cuts:,} cuts; "
                f"{t.pacer.faults:,} server errors read as faults)"
            )
        self.progress.update(
            self._task,
            total=t.total or None,
            completed=done,
            speed=f"{done / elapsed:,.0f} rows/s",
        )
        self._status = (
            "  " + (counts or "starting…") + f"\n  {pace}" + (f"\n  [yellow]{backoff}[/]" if backoff else "")
        )


def summary_table(summary: Summary) -> object:
    """The final table: one line per status, then time, speed, requests and where the report is."""
    from rich.table import Table

    table = Table(title=f"{summary.input.rsplit('/', 1)[-1]}: {summary.rows:,} rows", title_justify="left")
    table.add_column("status")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    for status, n in summary.counts.items():
        share = f"{100 * n / summary.rows:.1f}%" if summary.rows else ""
        table.add_row(f"[{STATUS_COLOURS.get(status, 'white')}]{status}[/]", f"{n:,}", share)
    return table


def summary_line(summary: Summary) -> str:
    return (
        f"{summary.duration_s:.1f} s, {summary.rows_per_second:,.1f} rows/s, "
        f"{summary.requests:,} requests, {summary.retries:,} retries; pace: {summary.pace}"
    )
