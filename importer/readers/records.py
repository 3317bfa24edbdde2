"""Inputs made of records rather than lines of text: JSON Lines, JSON arrays and Parquet.

Each record becomes one row of text cells, as a CSV row would be: nested objects become dotted
column names (``address.city``) that a mapping addresses like any column, a key a record lacks
is an empty cell, and values are written as a person reads them (``123`` for an integer held
as a float, ISO 8601 for dates, ``true``/``false``, lists as JSON). The columns are every key
of every record, in the order they first appear, found by a first pass; no pass holds more
than one record (JSON Lines, JSON arrays) or one record batch (Parquet) in memory.

A record that is not an object, or a line that is not valid JSON, is a row with a problem (it
is reported, never dropped); a JSON array whose syntax breaks is an input error naming the line.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from ..errors import InputError
from ..problems import Problem
from .base import FIELD_LIMIT, Kind, Option, SourceRow, Table, TableOptions, register
from .encodings import encoding_guard, text_encoding

__all__ = [
    "Record",
    "array_records",
    "flatten",
    "jsonl_records",
    "parquet_columns",
    "parquet_records",
    "value_text",
]

# (row, flattened cells by column name, problem): what the record readers yield.
Record = tuple[int, dict[str, str], Problem | None]

CHUNK = 1 << 20
MAX_ELEMENT = 64 << 20  # one array element this large is a broken file, not a customer
PARQUET_BATCH = 8192
_DOUBLE_MAX = Decimal("1.7976931348623157e308")
# Half of a UTF-16 pair: JSON's "\ud83d" alone (an emoji cut in two by a system that counts
# UTF-16 units). No UTF-8 text can hold it, so it can be neither sent nor written to a report.
_SURROGATE = re.compile("[\ud800-\udfff]")


class _JsonFloat(Decimal):
    """A JSON number with a fraction or an exponent, exactly as the file writes it: a float
    would turn the id ``12345678901234567.0`` into 12345678901234568, another customer."""


class _NotANumber(str):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's json reads them, JSON has no such values."""


class _Object(dict[str, Any]):
    """A JSON object, with the keys it held more than once (a dict keeps only the last value)."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    made = _Object(pairs)
    if len(made) != len(pairs):
        made.repeated = tuple(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
    return made


def json_decoder() -> json.JSONDecoder:
    """The decoder every JSON input is read with: exact numbers, NaN/Infinity and repeated
    keys kept visible so that flatten() can make them a problem of their row."""
    return json.JSONDecoder(parse_float=_JsonFloat, parse_constant=_NotANumber, object_pairs_hook=_object)


_DECODER = json_decoder()


def value_text(value: Any) -> str:  # noqa: PLR0911 - one answer per kind of value
    """A value from JSON, Parquet or a DataFrame as text a person would type in a cell."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing values
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, _JsonFloat):
        if abs(value) > _DOUBLE_MAX:
            return str(value)  # as written; flatten() makes it a problem of the row
        return str(int(value)) if value == value.to_integral_value() else format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))  # an integer id that went through a float column
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text and math.isfinite(value) else text
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None and value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(_plain(value), ensure_ascii=False)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "ndim", 1) == 0:
        return value_text(item())
    tolist = getattr(value, "tolist", None)  # numpy arrays in a cell
    if callable(tolist):
        return json.dumps(_plain(tolist()), ensure_ascii=False)
    return str(value)


def _plain(value: Any) -> Any:
    """A nested value made of JSON's own types, for lists written into one cell."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, _JsonFloat) and abs(value) <= _DOUBLE_MAX:
        return float(value)  # a number inside a list cell, written back as JSON writes it
    if isinstance(value, float) and math.isfinite(value):
        return value
    return value_text(value)


def flatten(record: Mapping[Any, Any]) -> tuple[dict[str, str], Problem | None]:
    """``{"address": {"city": "Oslo"}}`` -> ``{"address.city": "Oslo"}``, values as text.

    Two keys that land on one column with different values (``"address.city"`` and a nested
    ``address.city``) are a problem of the row, not a silent choice.
    """
    if _plain_record(record):
        return dict(record), None
    cells: dict[str, str] = {}
    problem: Problem | None = None

    def walk(prefix: str, obj: Mapping[Any, Any]) -> None:
        nonlocal problem
        if isinstance(obj, _Object) and obj.repeated and problem is None:
            key = obj.repeated[0]
            problem = Problem(
                kind="holds the same key twice in one object: which value is meant cannot be told",
                column=f"{prefix}{key}",
            )
        for key, value in obj.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping):
                walk(f"{name}.", value)
                continue
            text = value_text(value)
            if problem is None:
                problem = _value_problem(name, value, text)
            if name in cells and cells[name] != text and problem is None:
                problem = Problem(
                    kind="two keys of the record give one column different values",
                    column=name,
                    value=text,
                    detail=f"also {cells[name]!r}",
                )
            if "\x00" in text and problem is None:
                problem = Problem(
                    kind="holds a NUL character", column=name, value=text.replace("\x00", "\\0")
                )
            cells[name] = text

    walk("", record)
    return cells, problem


def _plain_record(record: Mapping[Any, Any]) -> bool:
    """A flat record of text keys and text values with nothing wrong in it, the usual line of
    JSON Lines and every line of a spool: its cells are itself. The checks walk() makes for such
    a record, made on all of its text at once (this was most of a database import's time)."""
    if getattr(record, "repeated", ()) or {*map(type, record), *map(type, record.values())} != {str}:
        return False
    return plain_texts(record.values())


def plain_texts(texts: Collection[str]) -> bool:
    """Whether cells of text hold nothing a row must be refused for (see _value_problem)."""
    text = "".join(texts)
    return (
        "\x00" not in text
        and (len(text) <= FIELD_LIMIT or max(map(len, texts)) <= FIELD_LIMIT)
        and not _SURROGATE.search(text)
    )


def _value_problem(name: str, value: Any, text: str) -> Problem | None:
    """Why a value cannot be a cell, or None: what JSON has no number for, half a character,
    a cell beyond FIELD_LIMIT."""
    if isinstance(value, _NotANumber) or (isinstance(value, float) and math.isinf(value)):
        return Problem(
            kind="is NaN or Infinity, which is not a number a customer field can hold", column=name
        )
    if isinstance(value, _JsonFloat) and abs(value) > _DOUBLE_MAX:
        return Problem(kind="is a number too large for any reader of JSON", column=name, value=text[:40])
    if len(text) > FIELD_LIMIT:
        return Problem(
            kind=f"is larger than {FIELD_LIMIT >> 20} MB", column=name, value=f"{len(text)} characters"
        )
    if _SURROGATE.search(text):
        return Problem(
            kind="holds half of a character (a lone UTF-16 surrogate: an emoji cut in two?)",
            column=name,
            value=_SURROGATE.sub("\ufffd", text)[:60],
        )
    return None


def _not_an_object(value: Any, where: str) -> Problem:
    kinds = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}
    kind = kinds.get(type(value), "a number")
    return Problem(kind=f"is not a JSON object ({kind}): each {where} must be one {{…}} record")


# --- JSON Lines ------------------------------------------------------------------------------


def jsonl_records(path: Path, encoding: str) -> Iterator[Record]:
    """One record a line; the row is the line number. Blank lines are skipped."""
    try:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                yield _jsonl_record(number, raw, encoding)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _jsonl_record(number: int, raw: bytes, encoding: str) -> Record:
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        return (
            number,
            {},
            Problem(kind=f"is not valid {encoding} text", detail=f"at byte {exc.start} of the line"),
        )
    if number == 1:
        text = text.removeprefix("\ufeff")
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        return number, {}, Problem(kind="is nested too deeply to read (objects or arrays inside each other)")
    except json.JSONDecodeError as exc:
        shown = text.strip()
        return (
            number,
            {},
            Problem(
                kind="is not valid JSON",
                detail=f"{exc.msg} at column {exc.colno}: {shown[:60]!r}{'…' if len(shown) > 60 else ''}",
            ),
        )
    if not isinstance(value, dict):
        return number, {}, _not_an_object(value, "line")
    return (number, *_flattened(value))


def _flattened(value: Mapping[Any, Any]) -> tuple[dict[str, str], Problem | None]:
    try:
        return flatten(value)
    except RecursionError:
        return {}, Problem(kind="is nested too deeply to read (objects inside each other)")


# --- JSON arrays -----------------------------------------------------------------------------


class _ArrayReader:
    """The elements of a top-level JSON array, one at a time, from a text stream.

    The stdlib decoder's ``raw_decode`` over a sliding buffer: memory holds one chunk and one
    element, and a syntax error is named by its line. (ijson streams too, but does not say where
    an error is; the 60 lines here cost nothing to install.)
    """

    def __init__(self, path: Path, fh: IO[str]) -> None:
        self.path, self.fh = path, fh
        self.buf, self.pos, self.line, self.eof = "", 0, 1, False
        self.decoder = json_decoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.fh.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.line += self.buf.count("\n", 0, self.pos)
        self.buf, self.pos = self.buf[self.pos :] + chunk, 0
        if len(self.buf) > MAX_ELEMENT:
            raise self._error(f"an element is larger than {MAX_ELEMENT >> 20} MB")
        return True

    def _error(self, what: str, at: int | None = None) -> InputError:
        line = self.line + self.buf.count("\n", 0, self.pos if at is None else at)
        return InputError(f"{self.path}: line {line}: not valid JSON ({what})")

    def _next_char(self) -> str:
        """The next character that is not white space, not consumed; "" at the end."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def __iter__(self) -> Iterator[Any]:
        self._fill()
        if self.buf.startswith("\ufeff"):
            self.pos = 1
        if self._next_char() != "[":
            raise InputError(
                f"{self.path}: a .json input holds one array of objects ([{{…}}, {{…}}]); "
                "for one object per line name it .jsonl or pass --format jsonl"
            )
        self.pos += 1
        if self._next_char() == "]":
            self.pos += 1
        else:
            while True:
                yield self._element()
                char = self._next_char()
                self.pos += 1
                if char == "]":
                    break
                if char != ",":
                    raise self._error(
                        f"expected ',' or ']' after an element, found {char or 'the end'!r}", self.pos - 1
                    )
        if self._next_char():
            raise self._error("more data after the closing ']'")

    def _element(self) -> Any:
        if not self._next_char():
            raise self._error("the array is not closed with ']'")
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except RecursionError:
                raise self._error("an element is nested too deeply to read") from None
            except json.JSONDecodeError as exc:
                # Near the buffer's end (a cut "nul", "1e", string) more text may complete it;
                # a real error there is raised once the text around it is read (or at the end).
                incomplete = exc.pos >= len(self.buf) - 16 or exc.msg.startswith("Unterminated string")
                if incomplete and self._fill():
                    continue
                raise self._error(exc.msg, exc.pos) from None
            if end >= len(self.buf) and not self.eof and self._fill():
                continue  # a number cut by the chunk's end: read on and decode it again
            self.pos = end
            return value


def array_records(path: Path, encoding: str) -> Iterator[Record]:
    """The elements of a JSON array; the row is the element's position (1 for the first)."""
    try:
        with path.open(encoding=encoding, newline="") as fh:
            for number, value in enumerate(_ArrayReader(path, fh), 1):
                if isinstance(value, dict):
                    yield (number, *_flattened(value))
                else:
                    yield number, {}, _not_an_object(value, "element")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not valid {encoding} text (JSON is UTF-8)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None


# --- Parquet ---------------------------------------------------------------------------------


def _parquet_file(path: Path) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            f"{path}: reading Parquet needs pyarrow: pip install 'kelviq-import[parquet]'"
        ) from None
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's ArrowInvalid, OSError: a file that is not Parquet
        said = " ".join(str(exc).split())  # pyarrow's text ends in a line break: one line
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {said})") from None


def parquet_columns(path: Path) -> list[str]:
    """The schema's columns, struct fields as dotted names."""
    schema = _parquet_file(path).schema_arrow  # first: it says when pyarrow is missing
    import pyarrow as pa

    names: list[str] = []

    def walk(prefix: str, fields: Any) -> None:
        for f in fields:
            if pa.types.is_struct(f.type):
                walk(f"{prefix}{f.name}.", list(f.type))
            else:
                names.append(f"{prefix}{f.name}")

    walk("", schema)
    return names


def parquet_records(path: Path) -> Iterator[Record]:
    """Record batches of a few thousand rows; the row is the record's position (1 first)."""
    pf = _parquet_file(path)
    number = 0
    try:
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH):
            for record in batch.to_pylist():
                number += 1
                cells, problem = flatten(record)
                yield number, cells, problem
    except InputError:
        raise
    except Exception as exc:  # a corrupt page deep in the file
        raise InputError(
            f"{path}: cannot be read after record {number} ({type(exc).__name__}: {exc})"
        ) from None


# --- the readers ----------------------------------------------------------------------------


class _Records:
    """JSON Lines, JSON arrays and Parquet: records become rows (``row`` is the line, or the
    element's or record's position), their keys the columns."""

    options: frozenset[Option] = frozenset({"encoding"})

    def open(self, path: Path, suffix: str, head: bytes, options: TableOptions) -> Table:
        return _open_records(path, suffix, head, options.encoding)

    def rows(self, table: Table) -> Iterator[SourceRow]:
        return _record_rows(table)


class JsonLinesReader(_Records):
    kinds: tuple[Kind, ...] = ("jsonl",)
    name: str = "JSON Lines"
    suffixes: tuple[str, ...] = (".jsonl", ".ndjson")
    formats: tuple[str, ...] = ("jsonl", "ndjson")


class JsonArrayReader(_Records):
    kinds: tuple[Kind, ...] = ("json",)
    name: str = "JSON"
    suffixes: tuple[str, ...] = (".json",)
    formats: tuple[str, ...] = ("json",)


class ParquetReader(_Records):
    kinds: tuple[Kind, ...] = ("parquet",)
    name: str = "Parquet"
    suffixes: tuple[str, ...] = (".parquet",)
    formats: tuple[str, ...] = ("parquet",)
    options: frozenset[Option] = frozenset()


for _reader in (JsonLinesReader(), JsonArrayReader(), ParquetReader()):
    register(_reader)


def _open_records(path: Path, suffix: str, head: bytes, encoding: str | None) -> Table:
    if suffix == ".parquet":
        columns = parquet_columns(path)
        return Table(path, record_columns(path, columns), "parquet", None, None, None, 0)
    encoding, notice = encoding_guard(path, head, encoding, gz=False)
    encoding = text_encoding(encoding) if encoding else "utf-8"
    kind: Kind = "jsonl" if suffix in (".jsonl", ".ndjson") else "json"
    text = head.decode(encoding, errors="replace").removeprefix("\ufeff").lstrip()
    if not text:
        raise InputError(f"{path}: the file is empty")
    if kind == "json" and text.startswith("{"):
        # One object per line saved as .json (a common export): read as JSON Lines when the
        # first line is a whole object; a single pretty-printed object is not a customer list.
        try:
            json.loads(text.splitlines()[0])
        except (ValueError, RecursionError):
            raise InputError(
                f"{path}: holds one JSON object; a .json input is an array of objects "
                "([{…}, {…}]) or one object per line (JSON Lines)"
            ) from None
        kind = "jsonl"
    table = Table(path, (), kind, encoding, None, None, 0)
    seen: dict[str, None] = {}
    for _, cells, _ in _records_of(table):
        for name in cells:
            if name not in seen:
                seen[name] = None
    return Table(path, record_columns(path, list(seen)), kind, encoding, None, None, 0, notice)


def record_columns(path: Path, names: list[str]) -> tuple[str, ...]:
    """Keys as columns: each must be told apart from the others as a mapping would."""
    seen: dict[str, str] = {}
    for name in names:
        key = name.strip().casefold()
        if key in seen:
            raise InputError(
                f"{path}: the keys {seen[key]!r} and {name!r} differ only in case or spaces; "
                "a mapping could not tell them apart: rename one"
            )
        if not name.strip():
            raise InputError(f"{path}: a key with no name ({name!r}); name it")
        seen[key] = name
    return tuple(names)


def _records_of(table: Table) -> Iterator[Record]:
    if table.kind == "parquet":
        return parquet_records(table.path)
    if table.kind == "jsonl":
        return jsonl_records(table.path, table.encoding or "utf-8")
    return array_records(table.path, table.encoding or "utf-8")


def _record_rows(table: Table) -> Iterator[SourceRow]:
    index = {name: i for i, name in enumerate(table.columns)}
    width = len(table.columns)
    for row, cells, problem in _records_of(table):
        out = [""] * width
        for name, text in cells.items():
            at = index.get(name)
            if at is not None:
                out[at] = text
        yield SourceRow(row, tuple(out), problem)
