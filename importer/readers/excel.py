"""Workbooks: .xlsx, .xlsm, .xls and .ods through calamine, numbers and dates as the sheet
shows them (xlsx_formats.py), merged header cells refused, and the header row found or given."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..problems import Problem
from .base import Kind, Option, SourceRow, Table, TableOptions, header_columns, register

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
        return _excel_rows(table)


register(WorkbookReader())


def _open_excel(path: Path, sheet: str | None, header_row: int | None) -> Table:
    ws, name = _excel_sheet(path, sheet)
    for row_no, header in _numbered(ws):
        if row_no >= (header_row or 1) and any(_cell_text(c).strip() for c in header):
            break
    else:
        where = f" at or below row {header_row}" if header_row else ""
        raise InputError(f"{path}: sheet {name!r} has no header row{where}")
    _refuse_merged_header(path, ws, name, row_no)
    columns = header_columns(path, [_cell_text(c) for c in header], row_no)
    return Table(path, columns, "excel", None, None, name, row_no)


def _refuse_merged_header(path: Path, ws: Any, name: str, header_row: int) -> None:
    """A header cell merged across columns names one column and leaves the others nameless:
    their data would be dropped or misplaced. Said with the range, as Excel shows it."""
    from .xlsx_formats import column_letters

    for (r0, c0), (r1, c1) in ws.merged_cell_ranges or ():
        if r0 + 1 <= header_row <= r1 + 1 and c1 > c0:
            where = f"{column_letters(c0)}{r0 + 1}:{column_letters(c1)}{r1 + 1}"
            raise InputError(
                f"{path}: sheet {name!r}: header cells {where} are merged; unmerge them and give "
                "each column its own name"
            )


def _excel_sheet(path: Path, sheet: str | None) -> tuple[Any, str]:
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
    try:
        return wb.get_sheet_by_name(name), name
    except Exception as exc:
        raise InputError(f"{path}: sheet {name!r} cannot be read ({type(exc).__name__}: {exc})") from None


def _numbered(ws: Any) -> Iterator[tuple[int, list[Any]]]:
    """Rows with the number the spreadsheet shows (calamine starts at the used range)."""
    start = ws.start
    first = (start[0] if start else 0) + 1
    return enumerate(ws.iter_rows(), first)


def _excel_rows(table: Table) -> Iterator[SourceRow]:
    from .xlsx_formats import cell_formats, column_letters, render_number

    ws, name = _excel_sheet(table.path, table.sheet)
    width = len(table.columns)
    first_col = ws.start[1] if ws.start else 0
    # Numbers as the sheet shows them where a cell's format pads (00124) or fixes decimals.
    formats = cell_formats(table.path, name) if table.path.suffix.lower() in (".xlsx", ".xlsm") else {}
    for row_no, values in _numbered(ws):
        if row_no <= table.header_row:
            continue
        raw = values
        if formats:
            raw = [
                render_number(v, code)
                if isinstance(v, float) and (code := formats.get((row_no, first_col + i))) is not None
                else v
                for i, v in enumerate(raw)
            ]
        cells = tuple(_cell_text(c) for c in raw[:width])
        extra = [(i, _cell_text(c)) for i, c in enumerate(raw[width:], width) if _cell_text(c).strip()]
        if not any(c.strip() for c in cells) and not extra:
            continue
        if len(cells) < width:
            cells = cells + ("",) * (width - len(cells))
        if extra:
            # Data under a column with no header name: never dropped silently.
            shown = ", ".join(f"{column_letters(first_col + i)}{row_no} {v!r}" for i, v in extra[:3])
            problem = Problem(
                kind="values beyond the last named column: name that column", detail=shown[:160]
            )
            yield SourceRow(row_no, cells, problem)
            continue
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
