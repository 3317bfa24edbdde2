"""What an .xlsx cell style's number format means for the number in the cell.

A sheet stores numbers, not what Excel shows: a postal code typed as 124 in a cell formatted
``00000`` shows as ``00124`` but is stored as 124, and a date is a day count formatted
``yyyy-mm-dd``. This module reads the workbook's styles (styles.xml) once into NumberStyle
values: which formats pad or fix digits (render_number shows the number as Excel does), and
which make the number a date or a duration (read as calamine reads them).
"""

from __future__ import annotations

import functools
import re
import zipfile
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal
from xml.parsers import expat

__all__ = [
    "NumberStyle",
    "column_index",
    "column_letters",
    "local_name",
    "render_number",
    "styles_of",
    "temporal_kind",
]

# Built-in number formats that change how a number reads (ECMA-376 18.8.30).
_BUILTIN = {1: "0", 2: "0.00"}
_TOKEN = re.compile(r'"[^"]*"|\\.|[0#.]|[-()/ :]|.', re.DOTALL)
# Built-in date and duration formats (ECMA-376 18.8.30), which a workbook names by id alone.
_BUILTIN_DATES = frozenset({*range(14, 23), 45, 47})
_BUILTIN_DURATIONS = frozenset({46})

Temporal = Literal["date", "duration"]


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
    if value >= 0 and value.is_integer() and code.strip("0") == "":
        return str(int(value)).zfill(len(code))  # the everyday case, a padded code or id
    tokens = _tokens(code)
    point = tokens.index(".") if "." in tokens else len(tokens)
    int_tokens, frac_tokens = tokens[:point], tokens[point + 1 :]
    decimals = sum(1 for t in frac_tokens if t in ("0", "#"))
    # Half away from zero on the shortest decimal of the double, as Excel shows 2.675 as 2.68
    # and 0.5 under "00000" as 00001 (Python's own format rounds half to even on the binary).
    text = format(Decimal(repr(abs(value))).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP), "f")
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


@functools.lru_cache(maxsize=256)
def _tokens(code: str) -> list[str]:
    return _TOKEN.findall(code)


def _literal(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1]
    if token.startswith("\\"):
        return token[1:]
    return token


@dataclass(frozen=True, slots=True)
class NumberStyle:
    """What a cell style's number format means for reading its numbers: ``code`` when it pads
    or fixes digits (render_number), ``temporal`` when the number is a date or a duration."""

    code: str | None = None
    temporal: Temporal | None = None


def styles_of(book: zipfile.ZipFile) -> tuple[NumberStyle, ...]:
    """The workbook's cell styles (cellXfs, in order), as NumberStyle values."""
    custom: dict[int, str] = {}
    xfs: list[int] = []
    in_cell_xfs = False

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal in_cell_xfs
        tag = local_name(name)
        if tag == "numFmt":
            custom[int(attrs.get("numFmtId", "0"))] = attrs.get("formatCode", "")
        elif tag == "cellXfs":
            in_cell_xfs = True
        elif tag == "xf" and in_cell_xfs:
            xfs.append(int(attrs.get("numFmtId", "0")))

    def end(name: str) -> None:
        nonlocal in_cell_xfs
        if local_name(name) == "cellXfs":
            in_cell_xfs = False

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    with book.open("xl/styles.xml") as xml:
        parser.ParseFile(xml)
    return tuple(_style(f, custom.get(f)) for f in xfs)


def _style(format_id: int, custom: str | None) -> NumberStyle:
    if custom is None:
        if format_id in _BUILTIN_DURATIONS:
            return NumberStyle(temporal="duration")
        if format_id in _BUILTIN_DATES:
            return NumberStyle(temporal="date")
        code = _BUILTIN.get(format_id)
        return NumberStyle(code=code if code is not None and _supported(code) else None)
    temporal = temporal_kind(custom)
    if temporal is not None:
        return NumberStyle(temporal=temporal)
    return NumberStyle(code=custom if _supported(custom) else None)


def temporal_kind(code: str) -> Temporal | None:
    """``yyyy-mm-dd`` is a date, ``[h]:mm`` a duration, ``0.00`` and ``"Day "0`` neither:
    date letters count outside quotes, escapes and brackets (colours, locales), as in Excel."""
    plain = re.sub(r'"[^"]*"|\\.|_.|\*.', "", code.split(";", 1)[0])
    if re.search(r"\[(h+|m+|s+)\]", plain, re.IGNORECASE):
        return "duration"
    plain = re.sub(r"\[[^\]]*\]", "", plain)
    if plain.lower() == "general":
        return None
    return "date" if re.search(r"[dmyhs]", plain, re.IGNORECASE) else None


def local_name(name: str) -> str:
    """``x:c`` and ``c`` alike: some writers prefix the main namespace, Strict OOXML renames it."""
    return name.rpartition(":")[2]


def column_index(letters: str) -> int:
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
