"""Workbooks: .xlsx and .xlsm streamed row by row (xlsx_stream.py), .xls and .ods through
calamine; numbers and dates as the sheet shows them (xlsx_formats.py), merged header cells
refused, and the header row found or given."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from xml.parsers import expat

from ..errors import InputError
from ..problems import Problem
from .base import Kind, Option, SourceRow, Table, TableOptions, header_columns, register
from .replay import replayed
from .xlsx_formats import column_index, column_letters
from .xlsx_stream import CellError, SheetStream, Workbook, open_workbook

__all__ = ["WorkbookReader"]


class WorkbookReader:
    kinds: tuple[Kind, ...] = ("excel",)
    name: str = "workbooks"
    suffixes: tuple[str, ...] = (".xlsx", ".xlsm", ".xls", ".ods")
    formats: tuple[str, ...] = ("xlsx", "xlsm", "xls", "ods")
    options: frozenset[Option] = frozenset({"sheet", "header_row"})

    def open(self, path: Path, suffix: str, head: bytes, options: TableOptions) -> Table:
        if head.startswith(bytes.fromhex("d0cf11e0a1b11ae1")) and suffix != ".xls":
            # An encrypted .xlsx is an OLE2 container, not a zip.
            raise InputError(
                f"{path}: the workbook is password-protected (or an old .xls renamed); "
                "save a copy without a password as .xlsx"
            )
        return _open_excel(path, options.sheet, options.header_row)

    def rows(self, table: Table) -> Iterator[SourceRow]:
        return replayed(table, _excel_rows)


register(WorkbookReader())

SheetRows = Iterator[tuple[int, dict[int, Any]]]  # (row the sheet shows, {0-based column: value})


class _Sheet(Protocol):
    name: str
    span: int | None  # columns up to the used range's last, where the sheet says

    def rows(self) -> SheetRows: ...

    def merged_header(self, header_row: int) -> str | None: ...

    def close(self) -> None: ...


def _open_excel(path: Path, sheet: str | None, header_row: int | None) -> Table:
    ws = _sheet(path, sheet)
    try:
        try:
            row_no, header, _ = _find_header(path, ws, header_row)
            columns = header_columns(path, _header_texts(header), row_no)
        except InputError:
            merged = ws.merged_header(header_row or 1)
            if merged:
                raise _merged_error(path, ws.name, merged) from None
            raise
        if _may_have_merges(ws, header) and (merged := ws.merged_header(row_no)):
            raise _merged_error(path, ws.name, merged)
    finally:
        ws.close()
    return Table(path, columns, "excel", None, None, ws.name, row_no)


def _may_have_merges(ws: _Sheet, header: dict[int, Any]) -> bool:
    """Whether the used range reaches past the named header cells, where a merged header
    cell would leave its columns nameless (said before a single row is read)."""
    return ws.span is not None and ws.span > max(header) + 1


def _merged_error(path: Path, name: str, where: str) -> InputError:
    return InputError(
        f"{path}: sheet {name!r}: header cells {where} are merged; unmerge them and give "
        "each column its own name"
    )


def _find_header(path: Path, ws: _Sheet, header_row: int | None) -> tuple[int, dict[int, Any], SheetRows]:
    rows = ws.rows()
    for row_no, cells in rows:
        if row_no >= (header_row or 1) and any(_cell_text(c).strip() for c in cells.values()):
            return row_no, cells, rows
    where = f" at or below row {header_row}" if header_row else ""
    raise InputError(f"{path}: sheet {ws.name!r} has no header row{where}")


def _header_texts(header: dict[int, Any]) -> list[str]:
    """The header's names from its first named column on, blanks where a cell is empty."""
    first = _first_column(header)
    return [_cell_text(header.get(i)) for i in range(first, max(header) + 1)]


def _first_column(header: dict[int, Any]) -> int:
    return min(i for i, c in header.items() if _cell_text(c).strip())


def _sheet(path: Path, sheet: str | None) -> _Sheet:
    if _is_ooxml(path):
        return _StreamedSheet.open(path, sheet)
    return _CalamineSheet.open(path, sheet)


def _is_ooxml(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as book:
            return "xl/workbook.xml" in book.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _no_sheet(path: Path, sheet: str | None, names: list[str]) -> InputError:
    return InputError(f"{path}: no sheet named {sheet!r}; the workbook has {', '.join(map(repr, names))}")


def _unreadable(path: Path, exc: Exception) -> InputError:
    return InputError(f"{path}: not a readable workbook ({type(exc).__name__}: {exc})")


class _StreamedSheet:
    """An .xlsx/.xlsm sheet through xlsx_stream: row by row, in constant memory."""

    def __init__(self, path: Path, book: zipfile.ZipFile, workbook: Workbook, name: str) -> None:
        self.path = path
        self.name = name
        self._book = book
        self._workbook = workbook
        self._stream = SheetStream(book, workbook, workbook.sheets[name])
        self.span: int | None = None

    @classmethod
    def open(cls, path: Path, sheet: str | None) -> _StreamedSheet:
        try:
            book = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise _unreadable(path, exc) from None
        try:
            workbook = open_workbook(book)
        except (KeyError, ValueError, expat.ExpatError) as exc:
            book.close()
            raise _unreadable(path, exc) from None
        names = list(workbook.sheets)
        name = sheet if sheet is not None else (names[0] if names else None)
        if name is None or name not in workbook.sheets:
            book.close()
            raise _no_sheet(path, sheet, names)
        return cls(path, book, workbook, name)

    def rows(self) -> SheetRows:
        try:
            for row in self._stream.rows():
                if self.span is None and self._stream.dimension:
                    self.span = _span(self._stream.dimension)
                yield row
        except (KeyError, ValueError, IndexError, expat.ExpatError, zipfile.BadZipFile, EOFError) as exc:
            raise InputError(
                f"{self.path}: sheet {self.name!r} cannot be read ({type(exc).__name__}: {exc})"
            ) from None

    def merged_header(self, header_row: int) -> str | None:
        for _ in self.rows():  # merged ranges follow the cells in the sheet's XML
            pass
        for ref in self._stream.merged:
            first, _, last = ref.partition(":")
            if not last:
                continue
            (r0, c0), (r1, c1) = _cell_ref(first), _cell_ref(last)
            if r0 <= header_row <= r1 and c1 > c0:
                return ref
        return None

    def close(self) -> None:
        self._stream.close()
        self._book.close()


def _span(dimension: str) -> int | None:
    """``A1:N100001`` -> 14, the columns up to the used range's last one."""
    last = dimension.rpartition(":")[2]
    try:
        return _cell_ref(last)[1] + 1
    except ValueError:
        return None


def _cell_ref(ref: str) -> tuple[int, int]:
    """``C12`` -> (12, 2)."""
    letters = ref.rstrip("0123456789").replace("$", "").upper()
    digits = ref[len(ref.rstrip("0123456789")) :]
    if not letters or not digits or not letters.isalpha():
        raise ValueError(ref)
    return int(digits), column_index(letters)


class _CalamineSheet:
    """.xls and .ods (and anything not OOXML) through calamine, which loads the sheet whole."""

    def __init__(self, path: Path, ws: Any, name: str) -> None:
        self.path = path
        self.name = name
        self._ws = ws
        start = ws.start
        self.span: int | None = (start[1] if start else 0) + ws.width

    @classmethod
    def open(cls, path: Path, sheet: str | None) -> _CalamineSheet:
        import python_calamine as pc

        try:
            wb = pc.CalamineWorkbook.from_path(str(path))
        except pc.PasswordError:
            raise InputError(
                f"{path}: the workbook is password-protected; save a copy without a password"
            ) from None
        except Exception as exc:  # calamine has several error types for corrupt files
            raise _unreadable(path, exc) from None
        names = list(wb.sheet_names)
        name = sheet if sheet is not None else (names[0] if names else None)
        if name is None or name not in names:
            raise _no_sheet(path, sheet, names)
        try:
            return cls(path, wb.get_sheet_by_name(name), name)
        except Exception as exc:
            raise InputError(f"{path}: sheet {name!r} cannot be read ({type(exc).__name__}: {exc})") from None

    def rows(self) -> SheetRows:
        start = self._ws.start
        first_row, first_col = (start[0] + 1, start[1]) if start else (1, 0)
        # to_python() starts at the used range; iter_rows() at row 1 in python-calamine 0.9
        # while .start says otherwise, which once put every row number off by the empty rows.
        for row_no, values in enumerate(self._ws.to_python(skip_empty_area=True), first_row):
            cells = {first_col + i: v for i, v in enumerate(values) if v is not None and v != ""}
            if cells:
                yield row_no, cells

    def merged_header(self, header_row: int) -> str | None:
        for (r0, c0), (r1, c1) in self._ws.merged_cell_ranges or ():
            if r0 + 1 <= header_row <= r1 + 1 and c1 > c0:
                return f"{column_letters(c0)}{r0 + 1}:{column_letters(c1)}{r1 + 1}"
        return None

    def close(self) -> None:
        pass


def _excel_rows(table: Table) -> Iterator[SourceRow]:
    ws = _sheet(table.path, table.sheet)
    try:
        _, header, rows = _find_header(table.path, ws, table.header_row)
        first = _first_column(header)
        width = len(table.columns)
        for row_no, values in rows:
            texts = {i: _cell_text(v) for i, v in values.items()}
            cells = tuple(texts.get(i, "") for i in range(first, first + width))
            extra = sorted((i, v) for i, v in texts.items() if not first <= i < first + width and v.strip())
            if not any(c.strip() for c in cells) and not extra:
                continue
            errors = [(i, v) for i, v in values.items() if isinstance(v, CellError)]
            if errors and not extra:
                # A formula's #N/A is not a customer's value; the row says which cell.
                shown = ", ".join(f"{column_letters(i)}{row_no} {v}" for i, v in errors[:3])
                problem = Problem(kind="a formula error in the sheet: fix the formula", detail=shown)
                yield SourceRow(row_no, cells, problem)
                continue
            if extra:
                # Data under a column with no header name: never dropped silently.
                shown = ", ".join(f"{column_letters(i)}{row_no} {v!r}" for i, v in extra[:3])
                side = "beyond the last" if extra[0][0] >= first else "before the first"
                problem = Problem(kind=f"values {side} named column: name that column", detail=shown[:160])
                yield SourceRow(row_no, cells, problem)
                continue
            yield SourceRow(row_no, cells)
    finally:
        ws.close()


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
        text = format(value, ".15g")  # Excel keeps 15 significant digits: 0.1+0.2 shows 0.3
        if "e" in text:  # 1.5e-07 -> 0.00000015, as a cell shows a number
            from decimal import Decimal

            text = format(Decimal(text), "f")
        return text
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)
