"""Check a file without sending anything: counts, problems grouped by kind, payload preview.

``validate`` is a dry run (same reader, mapper and report directory as ``run``) plus what a
person needs before a migration: which kinds of problems there are, how many rows each, a few
example rows, and what the first payloads will look like.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from .config import ImportConfig
from .pipeline import Prepared, prepare, run_import
from .report import RowResult, Summary

__all__ = ["Validation", "problem_kind", "validate"]

EXAMPLES_PER_KIND = 5


@dataclass(frozen=True)
class Validation:
    summary: Summary
    problems: dict[str, int]  # kind -> rows
    examples: dict[str, list[int]]  # kind -> first rows showing it
    preview: list[dict[str, Any]] = field(default_factory=list)
    describe: str = ""

    @property
    def exit_code(self) -> int:
        return self.summary.exit_code


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _value_to_ellipsis(m: re.Match[str]) -> str:
    # Column names stay (they are the point); values become "…".
    return m.group(0) if m.string[max(0, m.start() - 7) : m.start()] == "column " else "…"


def problem_kind(problem: str) -> list[str]:
    """``"column 'email': 'x@' is not a valid email address"`` -> the same with the value
    replaced by ``…``; one kind per ``; ``-separated part, numbers and asides removed."""
    kinds = []
    for part in problem.split("; "):
        kind = _QUOTED.sub(_value_to_ellipsis, part)
        kind = re.sub(r"\s*\([^)]*\)", "", kind)
        kind = re.sub(r"\d+", "N", kind)
        kinds.append(kind.strip())
    return kinds


def validate(config: ImportConfig, *, preview: int = 0, prepared: Prepared | None = None) -> Validation:
    """Read, map and check every row of ``config.input``; write the report; send nothing."""
    config = replace(config, dry_run=True)
    prepared = prepared or prepare(config)
    problems: Counter[str] = Counter()
    examples: dict[str, list[int]] = {}

    def collect(result: RowResult) -> None:
        if result.status in ("invalid", "skipped") and result.error:
            for kind in problem_kind(result.error):
                problems[kind] += 1
                rows = examples.setdefault(kind, [])
                if len(rows) < EXAMPLES_PER_KIND:
                    rows.append(result.row)

    summary = run_import(config, prepared=prepared, on_result=collect)
    payloads: list[dict[str, Any]] = []
    if preview > 0:
        for item in prepared.mapped():
            if item.payload is not None:
                payloads.append({"row": item.row, "payload": item.payload})
                if len(payloads) >= preview:
                    break
    return Validation(
        summary=summary,
        problems=dict(problems.most_common()),
        examples=examples,
        preview=payloads,
        describe=prepared.mapping.describe(),
    )
