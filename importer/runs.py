"""Past runs under a report root: when, which input, what happened, where the report is.

Each run writes summary.json into its own directory (see report.default_report_dir); this
reads them back, newest first, so a cron job's history is one command away.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PastRun", "past_runs"]


@dataclass(frozen=True)
class PastRun:
    directory: Path
    started_at: str
    input: str
    counts: dict[str, int]
    exit_code: int | None
    aborted: str | None
    dry_run: bool


def past_runs(root: Path) -> list[PastRun]:
    """Every directory under ``root`` holding a summary.json, newest first; unreadable ones
    (a run still going, a disk that filled up) are left out."""
    runs = []
    for summary in root.glob("*/summary.json"):
        try:
            data = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        runs.append(
            PastRun(
                directory=summary.parent,
                started_at=str(data.get("started_at", "")),
                input=str(data.get("input", "")),
                counts={str(k): int(v) for k, v in (data.get("counts") or {}).items()},
                exit_code=data.get("exit_code"),
                aborted=data.get("aborted"),
                dry_run=bool(data.get("dry_run")),
            )
        )
    return sorted(runs, key=lambda r: (r.started_at, r.directory.name), reverse=True)
