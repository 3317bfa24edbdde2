"""The private file a database result is copied to once, so that both passes over the input
(the duplicate scan, then the import) read one consistent snapshot.

Its first line is the result's column names as a JSON array; each following line is one row's
cells as a JSON array of strings, already text as a person reads them (records.value_text).
Positional arrays need no per-row keys, flattening or header pass: read back at about the
speed of CSV, where the JSON Lines spool it replaces took twice as long (bench/RESULTS.md).
A row's number is its position in the result. This reader is not offered to users: it has
no suffix and no ``--format`` name of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import InputError
from .base import Kind, Option, SourceRow, Table, TableOptions, register_spool
from .records import flatten, plain_texts, record_columns, value_text

__all__ = ["SPOOL_FORMAT", "SpoolReader", "SpoolWriter"]

SPOOL_FORMAT = "rows"


class SpoolWriter:
    """Writes the spool: ``columns()`` once, then ``row()`` for each row."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self.count = 0

    def columns(self, names: Sequence[str]) -> None:
        self._out.write(json.dumps([str(n) for n in names], ensure_ascii=False) + "\n")

    def row(self, values: Iterable[Any]) -> None:
        cells = [value_text(v) for v in values]
        text = json.dumps(cells, ensure_ascii=False)
        try:
            self._out.write(text + "\n")
        except UnicodeEncodeError:  # half a surrogate pair: escaped, so the reader names it
            self._out.write(json.dumps(cells) + "\n")
        self.count += 1


class SpoolReader:
    kinds: tuple[Kind, ...] = ("rows",)
    name: str = "spooled rows"
    suffixes: tuple[str, ...] = ()
    formats: tuple[str, ...] = (SPOOL_FORMAT,)
    options: frozenset[Option] = frozenset()

    def open(self, path: Path, suffix: str, head: bytes, options: TableOptions) -> Table:
        with path.open(encoding="utf-8") as fh:
            first = fh.readline()
        try:
            names = json.loads(first)
        except ValueError:
            raise InputError(f"{path}: not a spool of rows (its first line is no list of columns)") from None
        return Table(path, record_columns(path, names), "rows", "utf-8", None, None, 0)

    def rows(self, table: Table) -> Iterator[SourceRow]:
        width = len(table.columns)
        with table.path.open(encoding="utf-8") as fh:
            next(fh, None)
            for number, line in enumerate(fh, 1):
                cells: list[str] = json.loads(line)
                problem = None
                if len(cells) != width or not plain_texts(cells):
                    # The checks a JSON Lines record gets, by the same code, for the rare row
                    # with a NUL, half a character or a cell beyond the limit.
                    _, problem = flatten(dict(zip(table.columns, cells, strict=False)))
                    cells = (cells + [""] * width)[:width]
                yield SourceRow(number, tuple(cells), problem)


register_spool(SpoolReader())
