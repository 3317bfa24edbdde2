"""A row problem as a value: its kind, the column at fault, the value found there.

Readers, the mapper and the pipeline make a ``Problem`` where they find one; text is made from
it once (``render``), and reports group problems by ``key`` (kind and column, never the value)
with example values and rows, so no report ever parses a message back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["EXAMPLES_PER_KIND", "Problem", "ProblemTally", "render_all", "render_examples"]

EXAMPLES_PER_KIND = 5


@dataclass(frozen=True, slots=True)
class Problem:
    """``column 'Email': 'x@y' is not a valid email address (There must be something after the @-sign)``"""

    kind: str  # what is wrong, without the value: "is not a valid email address"
    column: str | None = None  # the column(s) at fault as the header names them: "'Email'"
    value: str | None = None  # the value found there, as read
    detail: str | None = None  # why, where it varies from value to value

    @property
    def key(self) -> str:
        """What problems are grouped by: the column and the kind, the value as ``…``."""
        text = f"… {self.kind}" if self.value is not None else self.kind
        return f"column {self.column}: {text}" if self.column else text

    def render(self) -> str:
        text = f"{self.value!r} {self.kind}" if self.value is not None else self.kind
        if self.column:
            text = f"column {self.column}: {text}"
        return f"{text} ({self.detail})" if self.detail else text


def render_examples(examples: list[dict[str, Any]], rows: int) -> str:
    """``rows 18 'maria.at.example.com', 43 'x@'`` and ``…`` when there are more."""
    shown = ", ".join(
        f"{e['row']} {e['value']!r}" if e.get("value") is not None else str(e["row"]) for e in examples
    )
    return f"rows {shown}{', …' if rows > len(examples) else ''}"


def render_all(problems: tuple[Problem, ...]) -> str | None:
    return "; ".join(p.render() for p in problems) if problems else None


@dataclass
class _Kind:
    rows: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ProblemTally:
    """Problems by kind: how many rows, and the first few rows with the value each held."""

    kinds: dict[str, _Kind] = field(default_factory=dict)

    def add(self, row: int, problem: Problem) -> None:
        kind = self.kinds.setdefault(problem.key, _Kind())
        kind.rows += 1
        if len(kind.examples) < EXAMPLES_PER_KIND:
            kind.examples.append({"row": row, "value": problem.value})

    def as_json(self) -> list[dict[str, Any]]:
        """Most common first: ``[{"kind", "rows", "examples": [{"row", "value"}]}]``."""
        ordered = sorted(self.kinds.items(), key=lambda item: -item[1].rows)
        return [{"kind": key, "rows": k.rows, "examples": k.examples} for key, k in ordered]
