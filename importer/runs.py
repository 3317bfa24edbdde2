"""Past runs under a report root: when, which input, what happened, where the report is.

Each run writes summary.json into its own directory (see report.default_report_dir); this
reads them back, newest first, so a cron job's history is one command away.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PastRun", "RunsFound", "past_runs"]


@dataclass(frozen=True)
class PastRun:
    directory: Path
    started_at: str
    input: str
    counts: dict[str, int]
    exit_code: int | None
    aborted: str | None
    dry_run: bool


@dataclass(frozen=True)
class RunsFound:
    runs: list[PastRun]  # newest first
    skipped: list[str]  # why an entry was left out, one line each


def past_runs(root: Path) -> RunsFound:
    """Every directory under ``root`` holding a readable summary.json, newest first. Entries
    that are not (a run still going, a disk that filled up, a file that is not a summary, a
    FIFO that would block a read) are left out and said in ``skipped``."""
    runs, skipped = [], []
    for summary in root.glob("*/summary.json"):
        try:
            if not summary.is_file():  # a FIFO or a device: reading it would hang
                raise ValueError("not a regular file")
            data = json.loads(summary.read_text(encoding="utf-8"))
            runs.append(_past_run(summary.parent, data))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            skipped.append(f"{summary}: left out ({type(exc).__name__}: {' '.join(str(exc).split())[:80]})")
    runs.sort(key=lambda r: (r.started_at, r.directory.name), reverse=True)
    return RunsFound(runs=runs, skipped=sorted(skipped))


def _past_run(directory: Path, data: object) -> PastRun:
    """One summary.json as a PastRun; a ValueError/TypeError when it does not hold one."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    counts = data.get("counts") or {}
    exit_code = data.get("exit_code")
    aborted = data.get("aborted")
    if not isinstance(counts, dict) or not (exit_code is None or type(exit_code) is int):
        raise ValueError("counts or exit_code of the wrong type")
    return PastRun(
        directory=directory,
        started_at=str(data.get("started_at", "")),
        input=str(data.get("input", "")),
        counts={str(k): int(v) for k, v in counts.items()},
        exit_code=exit_code,
        aborted=None if aborted is None else str(aborted),
        dry_run=bool(data.get("dry_run")),
    )
