"""What every reader shares: the row and table values, and the one seam a reader plugs into.

A reader family (delimited text, workbooks, records) is one module that registers a ``Reader``
here: the file names and ``--format`` names it answers to, the options it takes, how to open a
file (read its header) and how to stream its rows. ``open_table`` in ``__init__`` and every list
of formats (the messages, ``--format``'s choices, the README) are derived from the registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

from ..errors import InputError
from ..problems import Problem

__all__ = [
    "ERROR_COLUMN",
    "FIELD_LIMIT",
    "REPORT_COLUMNS",
    "ROW_COLUMN",
    "SNIFF_BYTES",
    "Kind",
    "Option",
    "Reader",
    "SourceRow",
    "Table",
    "TableOptions",
    "header_columns",
    "readers",
    "register",
    "register_spool",
    "spool_readers",
]

# The two columns failed.csv adds to the input's own: the row's line in the original file, and
# why it failed. A mapping can never send them; fed back, the first keeps the row numbers.
ROW_COLUMN = "kelviq_import_row"
ERROR_COLUMN = "kelviq_import_error"
REPORT_COLUMNS = (ROW_COLUMN, ERROR_COLUMN)
SNIFF_BYTES = 64 * 1024
# The largest cell any reader takes (csv.field_size_limit for CSV): a bigger one is an unclosed
# quote swallowing the file, or not a customer's data; 1 MB cells still read.
FIELD_LIMIT = 16 * 1024 * 1024

Kind = Literal["csv", "excel", "jsonl", "json", "parquet", "rows"]
Option = Literal["sheet", "encoding", "delimiter", "header_row"]


class SourceRow(NamedTuple):
    """One record of the input.

    ``row`` is where a person finds it: the line a CSV record starts on (the header is line 1
    unless ``--header-row`` says otherwise), the row number shown by a spreadsheet, the line of
    a JSON Lines record, the position (1 first) of a JSON array element or a Parquet record.
    ``cells`` follow ``Table.columns``; ``problem`` is set when the record itself is broken
    (too many or too few fields), in which case ``cells`` holds what it had, padded or cut.
    """

    row: int
    cells: tuple[str, ...]
    problem: Problem | None = None


@dataclass(frozen=True, slots=True)
class TableOptions:
    """How to read a file, as given (flags win over the mapping's [input]); None: find out."""

    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header_row: int | None = None

    def given(self) -> list[Option]:
        """The options set, to be checked against what the reader takes."""
        values: dict[Option, object] = {
            "sheet": self.sheet,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "header_row": self.header_row,
        }
        return [name for name, value in values.items() if value is not None]


class Reader(Protocol):
    """One family of inputs. ``kinds``: the Table kinds it streams; ``suffixes``: the file names
    it answers to (a compressed one as ``.csv.gz``); ``formats``: its ``--format`` names;
    ``options``: which of TableOptions apply to it; ``name``: how messages name its files."""

    kinds: tuple[Kind, ...]
    name: str
    suffixes: tuple[str, ...]
    formats: tuple[str, ...]
    options: frozenset[Option]

    def open(self, path: Path, suffix: str, head: bytes, options: TableOptions) -> Table: ...

    def rows(self, table: Table) -> Iterator[SourceRow]: ...


_READERS: list[Reader] = []


def register(reader: Reader) -> Reader:
    _READERS.append(reader)
    return reader


def readers() -> tuple[Reader, ...]:
    """Every registered reader, in the order registered (delimited, workbooks, records)."""
    return tuple(_READERS)


_SPOOLS: list[Reader] = []


def register_spool(reader: Reader) -> Reader:
    """A reader of the importer's own files (a spooled database result), never offered to a
    user: in no list of formats, chosen only by the format name the spooling code gives."""
    _SPOOLS.append(reader)
    return reader


def spool_readers() -> tuple[Reader, ...]:
    return tuple(_SPOOLS)


def _reader_of(kind: Kind) -> Reader:
    return next(r for r in (*_READERS, *_SPOOLS) if kind in r.kinds)


@dataclass(frozen=True)
class Table:
    """An opened input: its header and a way to stream its rows (each call reads afresh)."""

    path: Path
    columns: tuple[str, ...]
    kind: Kind
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    header_row: int = 1  # the line (CSV) or sheet row (Excel) the header ends on; 0: records
    notice: str | None = None  # how it was read differs from what was asked, and why (said once)
    header_start: int = 0  # the line a header spread over several lines starts on (0: header_row)

    @property
    def header_line(self) -> int:
        """The line or row to name as ``--header-row`` to read this same header again."""
        return self.header_start or self.header_row

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]

    @property
    def source_row_at(self) -> int | None:
        """Where a failed.csv keeps each row's line in the original file, if this is one."""
        return self.columns.index(ROW_COLUMN) if ROW_COLUMN in self.columns else None

    def rows(self) -> Iterator[SourceRow]:
        rows = _reader_of(self.kind).rows(self)
        at = self.source_row_at
        if at is None:
            return rows
        # A failed.csv fed back: every report keeps pointing at the original file's lines,
        # however many rounds of fixing there were.
        return (r._replace(row=int(r.cells[at])) if r.cells[at].isdigit() else r for r in rows)


KIND_NAMES: dict[Kind, str] = {
    "csv": "CSV",
    "excel": "workbook",
    "jsonl": "JSON Lines",
    "json": "JSON array",
    "parquet": "Parquet",
    "rows": "spooled rows",
}


def header_columns(path: Path, header: list[str], line: int) -> tuple[str, ...]:
    columns = [c.strip() for c in header]
    while columns and not columns[-1]:
        columns.pop()  # trailing empty header cells: blank columns, not data
    if not any(columns):
        raise InputError(f"{path}: the header row is empty (line {line or 1}); use --header-row N")
    seen: dict[str, int] = {}
    for i, name in enumerate(columns):
        if not name:
            raise InputError(
                f"{path}: line {line}: column {i + 1} of the header has no name; "
                "name it or use --header-row N"
            )
        key = name.casefold()
        if key in seen:
            first = seen[key]
            raise InputError(
                f"{path}: line {line}: columns {first + 1} ({columns[first]!r}) and {i + 1} ({name!r}) "
                "of the header have the same name; rename one"
            )
        seen[key] = i
    return tuple(columns)
