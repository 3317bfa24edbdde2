"""An .xlsx/.xlsm sheet read row by row, in memory that does not grow with the sheet.

calamine (which reads .xls and .ods here) loads a whole sheet before the first row: 170 MB at
100,000 rows of 14 columns, over a gigabyte at Excel's 1,048,576. openpyxl's read-only mode
streams, but keeps every shared string in memory and was 3x slower here (bench/RESULTS.md).
So the sheet's XML is parsed with the standard library's expat as it is unzipped, and the
shared-strings table, which grows with the sheet, is spooled to a temporary file in blocks
that are read back through a small cache: writers number shared strings in the order they
first appear, so a pass down the sheet reads that file nearly in order.

Values come out as calamine gives them (the same Python types, checked against it in
tests/test_xlsx_stream.py), so ``excel._cell_text`` renders both paths alike.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import os
import re
import tempfile
import zipfile
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO
from xml.parsers import expat

from .xlsx_formats import NumberStyle, column_index, local_name, render_number, styles_of

__all__ = ["Cell", "CellError", "SheetStream", "Workbook", "open_workbook"]

Cell = str | float | bool | dt.date | dt.datetime | dt.time | dt.timedelta | None

_CHUNK = 256 * 1024
_BLOCK = 64  # shared strings per spooled block: a miss reads and splits one block
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
# A cell as common writers (Excel, LibreOffice, openpyxl, xlsxwriter) put it: r, s and t in
# that order, an optional formula, then a value or an inline string of one run.
_PLAIN_CELL = re.compile(
    r'<c r="([A-Z]{1,3})(\d+)"(?: s="(\d+)")?(?: t="(\w+)")?'
    r"(?:/>|>(?:<f>[^<]*</f>|<f [^>]*/>|<f [^>]*>[^<]*</f>)?"
    r'(?:<v>([^<]*)</v>|<v/>|<is><t(?: xml:space="preserve")?>([^<]*)</t></is>)?</c>)'
)
_PLAIN_SI = re.compile(r'<si><t(?: xml:space="preserve")?>([^<]*)</t></si>|<si><t/></si>')
_SST_ROOT = re.compile(r"<(\w+:)?sst\b[^>]*>")
_DIMENSION = re.compile(r'<dimension ref="([^"]+)"')
_MERGE = re.compile(r'<(?:\w+:)?mergeCell\b[^>]*?\bref="([^"]+)"')
_ENTITY = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|amp|lt|gt|quot|apos);")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _unescape(text: str) -> str:
    """OOXML writes characters XML cannot hold as ``_x000D_``."""
    if "_x" not in text:
        return text
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


@dataclass(frozen=True, slots=True)
class Workbook:
    """What is read once per workbook: its sheets (name -> zip part), number styles, epoch."""

    sheets: dict[str, str]
    styles: tuple[NumberStyle, ...]
    date1904: bool
    shared_strings: str | None  # the zip part, if the workbook has one


def open_workbook(book: zipfile.ZipFile) -> Workbook:
    """Raises KeyError or expat.ExpatError for a zip that is not a workbook."""
    names: list[tuple[str, str]] = []
    date1904 = False

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal date1904
        tag = local_name(name)
        if tag == "sheet":
            rel = next((v for k, v in attrs.items() if local_name(k) == "id"), "")
            names.append((attrs.get("name", ""), rel))
        elif tag == "workbookPr":
            date1904 = attrs.get("date1904", "0").lower() in ("1", "true")

    _parse_part(book, "xl/workbook.xml", start)
    targets: dict[str, str] = {}
    shared = None

    def rel(name: str, attrs: dict[str, str]) -> None:
        nonlocal shared
        if local_name(name) == "Relationship":
            target = attrs.get("Target", "")
            part = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
            targets[attrs.get("Id", "")] = part
            if attrs.get("Type", "").endswith("/sharedStrings"):
                shared = part

    _parse_part(book, "xl/_rels/workbook.xml.rels", rel)
    if shared is None and "xl/sharedStrings.xml" in book.namelist():
        shared = "xl/sharedStrings.xml"
    sheets = {name: targets[r] for name, r in names if r in targets}
    styles = styles_of(book) if "xl/styles.xml" in book.namelist() else ()
    return Workbook(sheets=sheets, styles=styles, date1904=date1904, shared_strings=shared)


def _parse_part(book: zipfile.ZipFile, part: str, start: Callable[[str, dict[str, str]], None]) -> None:
    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    with book.open(part) as stream:
        parser.ParseFile(stream)


class _SharedStrings:
    """The shared-strings table, parsed as far as a lookup needs and spooled to a temporary
    file in blocks of 64 strings, raw (``_x000D_`` undone on the way out): XML text can hold
    no NUL, which therefore separates them. Stretches of plain ``<si><t>..</t></si>`` are read
    with one regular expression; any other stretch (rich text, phonetic guides, a namespace
    prefix) goes through expat."""

    def __init__(self, book: zipfile.ZipFile, part: str | None) -> None:
        # Closed by close(), when the pass that owns it ends.
        self._spool: IO[bytes] = tempfile.TemporaryFile(prefix="kelviq-import-strings-")  # noqa: SIM115
        self._blocks = array("q")  # spool offset of each block, and one past the last
        self._blocks.append(0)
        self._pending: list[str] = []  # strings not yet in a full block
        self._count = 0
        self._stream = book.open(part) if part else None
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text = ""
        self._close: str | None = None  # the closing tag of one string, </si> or </x:si>
        self._phonetic = False
        self._in_text = False
        self._parts: list[str] = []
        self.block = functools.lru_cache(maxsize=1024)(self._read_block)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._spool.close()

    def __getitem__(self, index: int) -> str:
        while index >= self._count and self._stream is not None:
            self._feed()
        if not 0 <= index < self._count:
            raise IndexError(index)
        k, j = divmod(index, _BLOCK)
        text = self._pending[j] if k == len(self._blocks) - 1 else self.block(k)[j]
        return _unescape(text) if "_x" in text else text

    def _feed(self) -> None:
        assert self._stream is not None
        data = self._stream.read(_CHUNK)
        self._text += self._decoder.decode(data, final=not data)
        if self._close is None:
            root = _SST_ROOT.search(self._text)
            if root is None:
                if not data:
                    self._end_of_table()
                return
            self._close = f"</{root.group(1) or ''}si>"
            self._text = self._text[root.end() :]
        cut = self._text.rfind(self._close)
        if cut >= 0:
            cut += len(self._close)
            self._stretch(self._text[:cut])
            self._text = self._text[cut:]
        if not data:
            if "<" + self._close[2:-1] in self._text:
                self._stretch(self._text)  # a string never closed: let expat say where
            self._end_of_table()

    def _end_of_table(self) -> None:
        assert self._stream is not None
        self._stream.close()
        self._stream = None
        self._flush()

    def _stretch(self, text: str) -> None:
        if self._close == "</si>":
            found = _PLAIN_SI.findall(text)
            if not _PLAIN_SI.sub("", text).strip():
                self._pending.extend(_entities(t) if "&" in t else t for t in found)
                self._count += len(found)
                self._flush()
                return
        parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._chars
        parser.Parse(f"<sst>{text}</sst>", True)
        self._flush()

    def _flush(self) -> None:
        while len(self._pending) >= _BLOCK:
            self._write(self._pending[:_BLOCK])
            del self._pending[:_BLOCK]

    def _write(self, block: list[str]) -> None:
        self._spool.seek(0, os.SEEK_END)
        self._spool.write("\0".join(block).encode("utf-8"))
        self._spool.flush()
        self._blocks.append(self._spool.tell())

    def _read_block(self, k: int) -> list[str]:
        start, end = self._blocks[k], self._blocks[k + 1]
        return os.pread(self._spool.fileno(), end - start, start).decode("utf-8").split("\0")

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        tag = local_name(name)
        if tag == "si":
            self._parts = []
        elif tag == "t" and not self._phonetic:
            self._in_text = True
        elif tag == "rPh":  # phonetic guide text: not part of what the cell shows
            self._phonetic = True

    def _end(self, name: str) -> None:
        tag = local_name(name)
        if tag == "t":
            self._in_text = False
        elif tag == "rPh":
            self._phonetic = False
        elif tag == "si":
            self._pending.append("".join(self._parts))
            self._count += 1

    def _chars(self, data: str) -> None:
        if self._in_text:
            self._parts.append(data)


class SheetStream:
    """One pass over a sheet: ``rows()`` yields ``(row number, {column index: value})`` for
    every row holding a value, as the XML is unzipped and parsed; ``dimension`` and
    ``merged`` are what the sheet says of its used range and merged cells (the latter only
    once the pass has reached the end, where the XML keeps them)."""

    def __init__(self, book: zipfile.ZipFile, workbook: Workbook, part: str) -> None:
        self._book = book
        self._part = part
        # The styles that change how a number reads, by the index a cell names them with.
        self._number_styles = {
            str(i): style for i, style in enumerate(workbook.styles) if style.code or style.temporal
        }
        self._names: dict[str, str] = {}
        self._columns: dict[str, int] = {}
        self._phonetic = False
        self._epoch = dt.datetime(1904, 1, 1) if workbook.date1904 else None
        self._strings = _SharedStrings(book, workbook.shared_strings)
        self.dimension: str | None = None
        self.merged: list[str] = []
        self._done: list[tuple[int, dict[int, Cell]]] = []
        self._row_no = 0
        self._cells: dict[int, Cell] = {}
        self._col = -1
        self._type = "n"
        self._style: NumberStyle | None = None
        self._text: list[str] | None = None
        self._inline = False

    def close(self) -> None:
        self._strings.close()

    def rows(self) -> Iterator[tuple[int, dict[int, Cell]]]:
        """The fast path while the XML keeps to the layout every common writer uses; from the
        first stretch that does not, the XML parser, which takes up after the rows given."""
        given = 0
        try:
            for row in self._plain_rows():
                given += 1
                yield row
            return
        except _NotPlain:
            pass
        self.merged.clear()
        for row in self._parsed_rows():
            if given:
                given -= 1
                continue
            yield row

    def _plain_rows(self) -> Iterator[tuple[int, dict[int, Cell]]]:
        """Rows read with one regular expression per cell, about 3x faster than expat's
        callbacks. Every stretch of whole rows is checked before its rows are given: each
        ``<`` in it must belong to a cell or row tag that was read, so an element, prefix,
        comment or attribute order it does not know sends the sheet to ``_parsed_rows``."""
        decoder = codecs.getincrementaldecoder("utf-8")()
        text = ""
        in_rows = False
        with self._book.open(self._part) as stream:
            while True:
                data = stream.read(_CHUNK)
                text += decoder.decode(data, final=not data)
                if not in_rows:
                    start = text.find("<sheetData>")
                    if start < 0:
                        if "<sheetData/>" in text:  # a sheet with no cells
                            self._tail(text)
                            return
                        if not data or len(text) > 16 * _CHUNK:
                            raise _NotPlain  # a prefixed <x:sheetData>, or no rows at all
                        continue
                    found = _DIMENSION.search(text, 0, start)
                    self.dimension = found.group(1) if found else None
                    text = text[start + len("<sheetData>") :]
                    in_rows = True
                end = text.find("</sheetData>")
                last_row = text.rfind("</row>")
                cut = end if end >= 0 else last_row + len("</row>") if last_row >= 0 else 0
                if cut > 0:
                    yield from self._plain_stretch(text[:cut])
                if end >= 0:
                    self._tail(text[end:])
                    for data in iter(lambda: stream.read(_CHUNK), b""):
                        self._tail(decoder.decode(data))
                    return
                if not data:
                    raise _NotPlain  # the rows never ended: let the parser say where
                text = text[max(cut, 0) :]

    def _plain_stretch(self, text: str) -> list[tuple[int, dict[int, Cell]]]:
        rows: list[tuple[int, dict[int, Cell]]] = []
        seen = text.count("<row") + text.count("</row>")
        styles = self._number_styles
        columns = self._columns
        strings = self._strings
        current = ""
        cells: dict[int, Cell] = {}
        for m in _PLAIN_CELL.finditer(text):
            whole, letters, row, style, kind, value, inline = m.group(0, 1, 2, 3, 4, 5, 6)
            seen += whole.count("<")
            if row != current:
                if cells:
                    rows.append((int(current), cells))
                current, cells = row, {}
            text_value = value if value is not None else inline
            if not text_value:
                continue
            if "&" in text_value:
                text_value = _entities(text_value)
            if kind == "s":  # most cells: a shared string, looked up without a call to _value
                cell: Cell = strings[int(text_value)]
            else:
                cell = self._value(kind or "n", styles.get(style) if style else None, text_value)
            if cell is not None and cell != "":
                col = columns.get(letters)
                cells[col if col is not None else self._column(letters)] = cell
        if cells:
            rows.append((int(current), cells))
        if seen != text.count("<"):
            raise _NotPlain
        return rows

    def _tail(self, text: str) -> None:
        self.merged.extend(_MERGE.findall(text))

    def _parsed_rows(self) -> Iterator[tuple[int, dict[int, Cell]]]:
        parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._chars
        with self._book.open(self._part) as stream:
            while True:
                data = stream.read(_CHUNK)
                parser.Parse(data, not data)
                if self._done:
                    yield from self._done
                    self._done.clear()
                if not data:
                    return

    # expat handlers, the hot path (several calls per cell): names compared without a
    # namespace prefix, looked up in small caches rather than parsed each time.
    def _start(self, name: str, attrs: dict[str, str]) -> None:
        tag = self._names.get(name) or self._name(name)
        if tag == "c":
            ref = attrs.get("r")
            if ref:
                letters = ref.rstrip("0123456789")
                col = self._columns.get(letters)
                self._col = col if col is not None else self._column(letters)
            else:
                self._col += 1
            self._type = attrs.get("t", "n")
            self._style = self._number_styles.get(attrs.get("s", "0"))
            self._text = None
        elif tag == "v":
            self._text = []
        elif tag == "row":
            ref = attrs.get("r")
            self._row_no = int(ref) if ref else self._row_no + 1
            self._cells = {}
            self._col = -1
        elif tag == "t":
            if self._inline and not self._phonetic and self._text is None:
                self._text = []
        elif tag == "is":
            self._inline = True
        elif tag == "rPh":
            self._phonetic = True  # a phonetic guide inside an inline string is not shown
        elif tag == "dimension":
            self.dimension = attrs.get("ref")
        elif tag == "mergeCell":
            self.merged.append(attrs.get("ref", ""))

    def _name(self, name: str) -> str:
        self._names[name] = tag = local_name(name)
        return tag

    def _column(self, letters: str) -> int:
        self._columns[letters] = col = column_index(letters.upper())
        return col

    def _chars(self, data: str) -> None:
        if self._text is not None and not self._phonetic:
            self._text.append(data)

    def _end(self, name: str) -> None:
        tag = self._names.get(name) or self._name(name)
        if tag == "c":
            if self._text is not None:
                value = self._value(self._type, self._style, "".join(self._text))
                if value is not None and value != "":
                    self._cells[self._col] = value
            self._text = None
            self._inline = False
        elif tag == "row":
            if self._cells:
                self._done.append((self._row_no, self._cells))
        elif tag == "rPh":
            self._phonetic = False
        elif tag == "is":
            self._inline = False

    def _value(self, kind: str, style: NumberStyle | None, text: str) -> Cell:
        if kind == "s":
            return self._strings[int(text)] if text.strip() else None
        if kind == "n":
            if not text:
                return None
            number = float(text)
            if style is not None:
                if style.temporal is not None:
                    return _temporal(number, style.temporal, self._epoch)
                if style.code is not None:  # 00124, not 124: as the sheet shows it
                    return render_number(number, style.code)
            return number
        if kind in ("str", "inlineStr"):
            return _unescape(text)
        if kind == "b":
            return text.strip() in ("1", "true")
        if kind == "e":
            return CellError(text)
        if kind == "d":
            return _iso(text)
        return text


class CellError(str):
    """A formula's error (``#N/A``, ``#DIV/0!``): what the sheet shows, which no customer's
    field should become, so the reader makes the row a problem."""


class _NotPlain(Exception):
    """The sheet's XML leaves the layout the fast path reads."""


def _entities(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name[0] == "#":
            return chr(int(name[2:], 16) if name[1] in "xX" else int(name[1:]))
        return _NAMED[name]

    return _ENTITY.sub(one, text)


def _temporal(number: float, kind: str, epoch: dt.datetime | None) -> Cell:
    """An Excel serial as calamine gives it: a duration, a time of day (under one day), a
    date (whole days) or a datetime; 1900-based serials before 1 March 1900 count from the
    last day of 1899, as Excel's phantom 29 February 1900 requires."""
    if kind == "duration":
        return dt.timedelta(milliseconds=round(number * 86_400_000))
    if epoch is None:
        epoch = dt.datetime(1899, 12, 31) if number < 60 else dt.datetime(1899, 12, 30)
    ms = round(number * 86_400_000)
    if 0 <= number < 1:
        return (dt.datetime.min + dt.timedelta(milliseconds=ms)).time()
    try:
        moment = epoch + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return number
    if moment.time() == dt.time(0) and float(number).is_integer():
        return moment.date()
    return moment


def _iso(text: str) -> Cell:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    return moment.date() if moment.time() == dt.time(0) and "T" not in text else moment
