"""Check a file without sending anything: counts, problems grouped by kind, payload preview.

``validate`` is a dry run (same reader, mapper and report directory as ``run``) plus what a
person needs before a migration: which kinds of problems there are, how many rows each, a few
example rows, and what the first payloads will look like.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .config import ImportConfig
from .pipeline import Prepared, prepare, run_import
from .report import Summary

__all__ = ["Validation", "validate"]


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


def validate(config: ImportConfig, *, preview: int = 0, prepared: Prepared | None = None) -> Validation:
    """Read, map and check every row of ``config.input``; write the report; send nothing."""
    config = replace(config, dry_run=True)
    prepared = prepared or prepare(config)
    summary = run_import(config, prepared=prepared)
    problems = {p["kind"]: p["rows"] for p in summary.extra["problems"]}
    examples = {p["kind"]: p["examples"] for p in summary.extra["problems"]}
    payloads: list[dict[str, Any]] = []
    if preview > 0:
        for item in prepared.mapped():
            if item.payload is not None:
                payloads.append({"row": item.row, "payload": item.payload})
                if len(payloads) >= preview:
                    break
    return Validation(
        summary=summary,
        problems=problems,
        examples=examples,
        preview=payloads,
        describe=prepared.mapping.describe(),
    )
