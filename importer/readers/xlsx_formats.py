"""Numbers as an .xlsx sheet shows them, where its number format pads or fixes digits.

calamine, which reads the cells, gives values, not formats: a postal code typed as 124 in a
cell formatted ``00000`` shows as ``00124`` in Excel but arrives as 124.0. This module reads
the workbook's styles once; only where some cell format pads with zeros or fixes decimals does
it scan the sheet's XML for the cells that use one (a streaming parse of attributes, nothing
else), so the usual workbook pays for reading styles.xml and nothing more.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path, PurePosixPath
from xml.etree.ElementTree import iterparse

__all__ = ["CellFormats", "cell_formats", "render_number"]

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
# Built-in number formats that change how a number reads (ECMA-376 18.8.30).
_BUILTIN = {1: "0", 2: "0.00"}
_TOKEN = re.compile(r'"[^"]*"|\\.|[0#.]|[-()/ :]|.', re.DOTALL)
_REF = re.compile(r"([A-Z]+)(\d+)")

CellFormats = dict[tuple[int, int], str]  # (sheet row, 0-based column) -> format code


def _supported(code: str) -> bool:
    """Digit placeholders, a decimal point and plain literals only: no dates, %, sections."""
    tokens = _TOKEN.findall(code)
    if not any(t in "0#" for t in tokens if len(t) == 1):
        return False
    for t in tokens:
        if t.startswith('"') or t.startswith("\\") or t in "0#.-()/ :":
            continue
        return False
    if code.count(".") > 1:
        return False
    int_zeros = code.split(".", maxsplit=1)[0].count("0")
    return int_zeros > 1 or "." in code  # padding or fixed decimals: else the default is right


def render_number(value: float, code: str) -> str:
    """``render_number(124, "00000") == "00124"``; ``"000-00-0000"`` puts digits in the gaps."""
    tokens = _TOKEN.findall(code)
    point = tokens.index(".") if "." in tokens else len(tokens)
    int_tokens, frac_tokens = tokens[:point], tokens[point + 1 :]
    decimals = sum(1 for t in frac_tokens if t in ("0", "#"))
    text = f"{abs(value):.{decimals}f}"
    int_digits, _, frac_digits = text.partition(".")
    if int_digits == "0" and any(t == "#" for t in int_tokens) and "0" not in int_tokens:
        int_digits = ""
    out: list[str] = []
    digits = list(int_digits)
    placeholders = [i for i, t in enumerate(int_tokens) if t in ("0", "#")]
    first = placeholders[0] if placeholders else 0
    for i in range(len(int_tokens) - 1, -1, -1):
        t = int_tokens[i]
        if t in ("0", "#"):
            if digits:
                out.append(digits.pop())
            elif t == "0":
                out.append("0")
            if i == first and digits:
                out.append("".join(digits)[::-1])  # more digits than placeholders: all shown
                digits = []
        else:
            out.append(_literal(t)[::-1])
    result = "".join(out)[::-1]
    if frac_tokens:
        frac = iter(frac_digits)
        result += "." + "".join(next(frac, "") if t in ("0", "#") else _literal(t) for t in frac_tokens)
    return ("-" if value < 0 and float(text) != 0 else "") + result


def _literal(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1]
    if token.startswith("\\"):
        return token[1:]
    return token


def cell_formats(path: Path, sheet: str) -> CellFormats:
    """The cells of ``sheet`` whose number format pads or fixes digits; empty when none do
    (or when the file is not an .xlsx zip, or its parts cannot be found)."""
    try:
        with zipfile.ZipFile(path) as book:
            styles = _styles(book)
            if not styles:
                return {}
            part = _sheet_part(book, sheet)
            if part is None:
                return {}
            found: CellFormats = {}
            with book.open(part) as xml:
                for _event, element in iterparse(xml):
                    if element.tag == f"{_NS}c":
                        style = element.get("s")
                        if style is not None and int(style) in styles:
                            m = _REF.fullmatch(element.get("r") or "")
                            if m:
                                found[(int(m.group(2)), _column_index(m.group(1)))] = styles[int(style)]
                        element.clear()
                    elif element.tag == f"{_NS}row":
                        element.clear()
            return found
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, SyntaxError):
        return {}


def _styles(book: zipfile.ZipFile) -> dict[int, str]:
    """cellXfs index -> format code, for the formats render_number handles."""
    custom: dict[int, str] = {}
    xfs: list[int] = []
    with book.open("xl/styles.xml") as xml:
        in_cell_xfs = False
        for event, element in iterparse(xml, events=("start", "end")):
            if element.tag == f"{_NS}numFmt" and event == "end":
                custom[int(element.get("numFmtId", "0"))] = element.get("formatCode", "")
            elif element.tag == f"{_NS}cellXfs":
                in_cell_xfs = event == "start"
            elif element.tag == f"{_NS}xf" and event == "end" and in_cell_xfs:
                xfs.append(int(element.get("numFmtId", "0")))
    codes = {**_BUILTIN, **custom}
    return {i: codes[f] for i, f in enumerate(xfs) if f in codes and _supported(codes[f])}


def _sheet_part(book: zipfile.ZipFile, sheet: str) -> str | None:
    rel_id = None
    with book.open("xl/workbook.xml") as xml:
        for _event, element in iterparse(xml):
            if element.tag == f"{_NS}sheet" and element.get("name") == sheet:
                rel_id = element.get(f"{_REL_NS}id")
    if rel_id is None:
        return None
    with book.open("xl/_rels/workbook.xml.rels") as xml:
        for _event, element in iterparse(xml):
            if element.get("Id") == rel_id:
                target = element.get("Target", "")
                if target.startswith("/"):
                    return target.lstrip("/")
                return str(PurePosixPath("xl") / target)
    return None


def _column_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def column_letters(index: int) -> str:
    """0 -> A, 27 -> AB."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
