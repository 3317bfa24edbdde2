"""Read an input file as a stream of rows: ``path -> columns + iterator of SourceRow``.

Every cell is text. CSV-like files go through pandas' C parser in chunks, so memory stays flat
whatever the file size; Excel workbooks go through calamine, row by row.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .errors import InputError

__all__ = ["SourceRow", "Table", "open_table", "CSV_SUFFIXES", "EXCEL_SUFFIXES"]

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
CHUNK_ROWS = 20_000
SNIFF_BYTES = 64 * 1024
_BAD_LINE = re.compile(r"Skipping line (\d+): expected (\d+) fields?, saw (\d+)")


class SourceRow(NamedTuple):
    """One record of the input.

    ``row`` is where a person finds it: the line number in a CSV (the header is line 1; a quoted
    field spanning lines shifts later numbers), the row number shown by a spreadsheet.
    ``cells`` follow ``Table.columns``; ``problem`` is set when the record itself is broken
    (too many fields), in which case ``cells`` may be partial.
    """

    row: int
    cells: tuple[str, ...]
    problem: str | None = None


@dataclass(frozen=True)
class Table:
    """An opened input: its header and a way to stream its rows (each call reads afresh)."""

    path: Path
    columns: tuple[str, ...]
    kind: str  # "csv" or "excel"
    encoding: str | None
    delimiter: str | None
    sheet: str | None

    def rows(self) -> Iterator[SourceRow]:
        if self.kind == "excel":
            return _excel_rows(self)
        return _csv_rows(self)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in CSV_SUFFIXES + EXCEL_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def open_table(
    path: Path | str,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Table:
    """Open ``path``, read its header and check that rows can be streamed from it."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a .csv, .tsv or .xlsx file")
    suffix = _suffix(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if suffix in EXCEL_SUFFIXES:
        if delimiter is not None:
            raise InputError(f"{path}: --delimiter applies to CSV files, not to workbooks")
        return _open_excel(path, sheet)
    if suffix not in CSV_SUFFIXES:
        raise InputError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; use .csv, .tsv, .csv.gz or .xlsx"
        )
    if sheet is not None:
        raise InputError(f"{path}: --sheet applies to workbooks (.xlsx), not to CSV files")
    return _open_csv(path, suffix, head, encoding, delimiter)


# --- CSV -------------------------------------------------------------------------------------


def _detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8"


def _open_csv(path: Path, suffix: str, head: bytes, encoding: str | None, delimiter: str | None) -> Table:
    if suffix.endswith(".gz"):
        import gzip

        try:
            with gzip.open(path, "rb") as gz:
                head = gz.read(SNIFF_BYTES)
        except (OSError, EOFError) as exc:
            raise InputError(f"{path}: not a readable gzip file ({exc})") from None
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(f"{path}: looks like a binary file (NUL bytes), not CSV text")
    encoding = encoding or _detect_encoding(head)
    try:
        sample = head.decode(encoding, errors="strict")
    except UnicodeDecodeError as exc:
        # The sample may end inside a multi-byte character; only earlier errors are real.
        if exc.start < len(head) - 4:
            raise InputError(
                f"{path}: not valid {encoding} at byte offset {exc.start}; "
                "state the file's encoding with --encoding (for example cp1252)"
            ) from None
        sample = head[: exc.start].decode(encoding)
    if not sample.strip():
        raise InputError(f"{path}: the file is empty")
    if delimiter is None:
        delimiter = "\t" if suffix.startswith(".tsv") else _sniff_delimiter(sample)
    header_line = next(csv.reader([sample.splitlines()[0]], delimiter=delimiter), [])
    columns = tuple(c.strip() for c in header_line)
    if not any(columns):
        raise InputError(f"{path}: line 1: the header row is empty")
    table = Table(path, columns, "csv", encoding, delimiter, None)
    return table


def _sniff_delimiter(sample: str) -> str:
    lines = sample.splitlines()[:50]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        # Sniffer gives up on one-column files and on some quoting; count instead.
        first = lines[0] if lines else ""
        counts = {d: first.count(d) for d in ",;\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _csv_rows(table: Table) -> Iterator[SourceRow]:
    import pandas as pd

    path = table.path
    width = len(table.columns)
    pending_bad: list[tuple[int, str]] = []
    offset = 0  # bad lines seen so far: they take a line but have no record index
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            reader = pd.read_csv(
                path,
                sep=table.delimiter,
                dtype=str,
                header=0,
                names=None,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                on_bad_lines="warn",
                encoding=table.encoding,
                encoding_errors="strict",
                compression="infer",
                chunksize=CHUNK_ROWS,
                engine="c",
            )
            with reader:
                for chunk in reader:
                    for w in caught:
                        for m in _BAD_LINE.finditer(str(w.message)):
                            line, want, saw = (int(g) for g in m.groups())
                            pending_bad.append((line, f"line has {saw} fields, the header has {want}"))
                    caught.clear()
                    pending_bad.sort()
                    start = int(chunk.index[0]) if len(chunk.index) else 0
                    for i, cells in enumerate(chunk.itertuples(index=False, name=None)):
                        line = start + i + 2 + offset
                        while pending_bad and pending_bad[0][0] <= line:
                            bad_line, why = pending_bad.pop(0)
                            yield SourceRow(bad_line, (), why)
                            offset += 1
                            line += 1
                        if not any(cells):
                            continue  # a blank line
                        if len(cells) != width:  # pandas pads or cuts; keep our width
                            cells = tuple(cells[:width]) + ("",) * (width - len(cells))
                        yield SourceRow(line, cells)
                for w in caught:
                    for m in _BAD_LINE.finditer(str(w.message)):
                        line, want, saw = (int(g) for g in m.groups())
                        pending_bad.append((line, f"line has {saw} fields, the header has {want}"))
                for bad_line, why in sorted(pending_bad):
                    yield SourceRow(bad_line, (), why)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not valid {table.encoding} ({exc.reason}); "
            "state the file's encoding with --encoding (for example cp1252)"
        ) from None
    except pd.errors.EmptyDataError:
        return
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: cannot be parsed as CSV: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from None


# --- Excel -----------------------------------------------------------------------------------


def _open_excel(path: Path, sheet: str | None) -> Table:
    ws, name, start_row = _excel_sheet(path, sheet)
    rows = ws.iter_rows()
    header: list[Any] = []
    for header in rows:
        if any(_cell_text(c) for c in header):
            break
        start_row += 1
    else:
        raise InputError(f"{path}: sheet {name!r} is empty")
    columns = tuple(_cell_text(c).strip() for c in header)
    # Trailing blank header cells are calamine's used range, not columns.
    while columns and not columns[-1]:
        columns = columns[:-1]
    return Table(path, columns, "excel", None, None, name)


def _excel_sheet(path: Path, sheet: str | None) -> tuple[Any, str, int]:
    import python_calamine as pc

    try:
        wb = pc.CalamineWorkbook.from_path(str(path))
    except pc.PasswordError:
        raise InputError(
            f"{path}: the workbook is password-protected; save a copy without a password"
        ) from None
    except Exception as exc:  # calamine has several error types for corrupt files
        raise InputError(f"{path}: not a readable workbook ({type(exc).__name__}: {exc})") from None
    names = list(wb.sheet_names)
    name = sheet if sheet is not None else (names[0] if names else None)
    if name is None or name not in names:
        raise InputError(f"{path}: no sheet named {sheet!r}; the workbook has {', '.join(map(repr, names))}")
    ws = wb.get_sheet_by_name(name)
    start = ws.start
    start_row = (start[0] if start else 0) + 1  # 1-based, as the spreadsheet shows it
    return ws, name, start_row


def _excel_rows(table: Table) -> Iterator[SourceRow]:
    ws, _name, row_no = _excel_sheet(table.path, table.sheet)
    width = len(table.columns)
    rows = ws.iter_rows()
    for header in rows:  # skip up to and including the header row
        if any(_cell_text(c) for c in header):
            break
        row_no += 1
    for raw in rows:
        row_no += 1
        cells = tuple(_cell_text(c) for c in raw[:width])
        if not any(cells):
            continue
        if len(cells) < width:
            cells = cells + ("",) * (width - len(cells))
        yield SourceRow(row_no, cells)


def _cell_text(value: Any) -> str:
    """A cell as the sheet shows it: 1234 not 1234.0, dates as ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)
