"""Check a file without sending anything: counts, problems grouped by kind, payload preview.

``validate`` is a dry run (same reader, mapper and report directory as ``run``) plus what a
person needs before a migration: which kinds of problems there are, how many rows each, a few
example rows, and what the first payloads will look like.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

from .config import ImportConfig
from .pipeline import arun_import
from .prepare import Prepared, prepare
from .report import Summary
from .sources import materialised
from .syncapi import refuse_running_loop

__all__ = ["Validation", "avalidate", "validate"]


@dataclass(frozen=True)
class Validation:
    summary: Summary
    preview: list[dict[str, Any]] = field(default_factory=list)
    describe: str = ""

    @property
    def problems(self) -> dict[str, int]:
        """Problem kind -> rows showing it, most common first (as summary.json has them)."""
        return {p["kind"]: p["rows"] for p in self.summary.problems}

    @property
    def examples(self) -> dict[str, list[dict[str, Any]]]:
        """Problem kind -> the first rows showing it, with the value each held:
        ``[{"row": 18, "value": "maria.at.example.com"}]``."""
        return {p["kind"]: p["examples"] for p in self.summary.problems}

    @property
    def exit_code(self) -> int:
        return self.summary.exit_code


def validate(config: ImportConfig, *, preview: int = 0, prepared: Prepared | None = None) -> Validation:
    """Read, map and check every row of ``config.input``; write the report; send nothing."""
    refuse_running_loop("validate", "avalidate")
    return asyncio.run(avalidate(config, preview=preview, prepared=prepared))


async def avalidate(
    config: ImportConfig, *, preview: int = 0, prepared: Prepared | None = None
) -> Validation:
    """``validate`` for callers inside an event loop."""
    with materialised(replace(config, dry_run=True)) as ready:
        prepared = prepared or prepare(ready)
        summary = await arun_import(ready, prepared=prepared)
        payloads: list[dict[str, Any]] = []
        if preview > 0:
            for item in prepared.mapped():
                if item.payload is not None:
                    payloads.append({"row": item.row, "payload": item.payload})
                    if len(payloads) >= preview:
                        break
    return Validation(
        summary=summary,
        preview=payloads,
        describe=prepared.mapping.describe(),
    )
