"""Delimited text: CSV, TSV and .txt, plain or gzip-compressed, through the stdlib csv parser.

Decoding is strict (UTF-8 and its BOM, UTF-16 with a BOM, or the encoding asked for, within the
encoding guard), the delimiter is sniffed, quoted fields may hold line breaks, a NUL byte is
refused, and a record that is ragged is a row problem, not an abort.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, cast

from ..errors import InputError
from ..problems import Problem
from .base import (
    FIELD_LIMIT,
    ROW_COLUMN,
    SNIFF_BYTES,
    Kind,
    Option,
    SourceRow,
    Table,
    TableOptions,
    header_columns,
    register,
)
from .encodings import encoding_guard

__all__ = ["DelimitedReader"]

csv.field_size_limit(FIELD_LIMIT)


class DelimitedReader:
    kinds: tuple[Kind, ...] = ("csv",)
    name: str = "CSV files"
    suffixes: tuple[str, ...] = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
    formats: tuple[str, ...] = ("csv", "tsv", "txt")
    options: frozenset[Option] = frozenset({"encoding", "delimiter", "header_row"})

    def open(self, path: Path, suffix: str, head: bytes, options: TableOptions) -> Table:
        return _open_csv(
            path,
            suffix,
            head,
            encoding=options.encoding,
            delimiter=options.delimiter,
            header_row=options.header_row,
        )

    def rows(self, table: Table) -> Iterator[SourceRow]:
        return _csv_rows(table)


register(DelimitedReader())


def _detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8"


def _open_csv(
    path: Path,
    suffix: str,
    head: bytes,
    *,
    encoding: str | None,
    delimiter: str | None,
    header_row: int | None,
) -> Table:
    if suffix.endswith(".gz"):
        import gzip

        try:
            with gzip.open(path, "rb") as gz:
                head = gz.read(SNIFF_BYTES)
        except (OSError, EOFError) as exc:
            raise InputError(f"{path}: not a readable gzip file ({exc})") from None
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(f"{path}: looks like a binary file (NUL bytes), not CSV text")
    encoding, notice = encoding_guard(path, head, encoding, gz=suffix.endswith(".gz"))
    if encoding is not None:
        try:
            info = codecs.lookup(encoding)
        except LookupError:
            raise InputError(
                f"--encoding {encoding!r}: unknown encoding (try utf-8, cp1252, latin-1)"
            ) from None
        if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib: not for text
            raise InputError(f"--encoding {encoding!r}: not a text encoding (try utf-8, cp1252, latin-1)")
        encoding = info.name
        if encoding in ("utf-16", "utf-32") and not head.startswith(
            (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
        ):
            raise InputError(
                f"{path}: --encoding {encoding}: the file does not start with a byte-order mark; "
                f"name the byte order ({encoding}-le or {encoding}-be), or it may be utf-8"
            )
        if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
    encoding = encoding or _detect_encoding(head)
    try:
        sample = head.decode(encoding, errors="strict")
    except UnicodeDecodeError as exc:
        # The sample may end inside a multi-byte character; only earlier errors are real.
        if exc.start < len(head) - 4:
            raise _decode_error(Table(path, (), "csv", encoding, delimiter, None)) from None
        sample = head[: exc.start].decode(encoding)
    if sample.startswith("\ufeff"):
        sample = sample[1:]
    if not sample.strip():
        raise InputError(f"{path}: the file is empty")
    lines = sample.splitlines()
    # A failed.csv has its header on line 1 whatever the original's --header-row was.
    first = 0 if lines and ROW_COLUMN in lines[0] else (header_row or 1) - 1
    if first >= len(lines):
        raise InputError(f"{path}: --header-row {header_row}: the file's first 64 KB hold {len(lines)} lines")
    if delimiter is None:
        body = "\n".join(lines[first:])
        delimiter = "\t" if suffix.startswith(".tsv") else _sniff_delimiter(body)
    # The header is read from the file itself, not the sample: a wide export's header
    # can be longer than the 64 KB sniffed.
    header: list[str] = []
    begin = end = 0
    with contextlib.closing(_records(Table(path, (), "csv", encoding, delimiter, None))) as records:
        for start, last, fields in records:
            if start > first and any(c.strip() for c in fields):
                header, begin, end = fields, start, last
                break
    columns = header_columns(path, header, end)
    return Table(path, columns, "csv", encoding, delimiter, None, end, notice, begin)


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


def _open_binary(table: Table) -> IO[bytes]:
    if table.path.name.lower().endswith(".gz"):
        import gzip

        return cast(IO[bytes], gzip.open(table.path, "rb"))
    return table.path.open("rb")


def _csv_rows(table: Table) -> Iterator[SourceRow]:
    """Records of a CSV file with the line each starts on.

    The stdlib parser, not pandas: pandas' C parser pads a short line silently and numbers
    records, not lines, and it was 3x slower on a million rows here. Decoding is strict.
    """
    width, header_row, delimiter = len(table.columns), table.header_row, table.delimiter or ","
    for start, last, fields in _records(table):
        if start <= header_row:
            continue  # the header and anything above it
        if len(fields) != width:
            if not fields or not any(f.strip() for f in fields):
                continue  # a blank line
            if len(fields) > width and not any(f.strip() for f in fields[width:]):
                del fields[width:]  # trailing empty columns
            else:
                yield _ragged(start, fields, width)
                continue
        if not any(fields):
            continue
        if last > start and (swallowed := _swallowed_records(fields, delimiter, width)):
            yield SourceRow(
                start,
                tuple(fields),
                Problem(
                    kind="a quoted field runs over several lines holding records: an unclosed quote?",
                    detail=f"lines {start} to {last}, {swallowed} of them look like records",
                ),
            )
            continue
        yield SourceRow(start, tuple(fields))


def _records(table: Table) -> Generator[tuple[int, int, list[str]], None, None]:
    """Every CSV record as (first line, last line, fields), decoded strictly; the one place
    that turns decoding, parsing and read failures into InputError."""
    path = table.path
    last = 0  # physical lines read so far; a record starts on the line after
    try:
        with _open_binary(table) as raw:
            wide = codecs.lookup(table.encoding or "utf-8").name.startswith(("utf-16", "utf-32"))
            stream: IO[bytes] = raw if wide else cast(IO[bytes], _NulGuard(raw))
            text = io.TextIOWrapper(stream, encoding=table.encoding, errors="strict", newline="")
            reader = csv.reader(text, delimiter=table.delimiter or ",", strict=False)
            for fields in reader:
                start, last = last + 1, reader.line_num
                yield start, last, fields
    except UnicodeError:  # decoding (UnicodeDecodeError) or a codec's own complaint
        raise _decode_error(table) from None
    except _NulByte as nul:
        raise InputError(
            f"{path}: a NUL byte at byte offset {nul.offset} (line {nul.line}): the file is binary, "
            "corrupt or in another encoding (UTF-16 needs its byte-order mark or --encoding utf-16-le)"
        ) from None
    except csv.Error as exc:
        raise InputError(
            f"{path}: line {last + 1}: cannot be parsed as CSV ({exc}); an unclosed quote?"
        ) from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from None


class _NulByte(Exception):
    def __init__(self, offset: int, line: int) -> None:
        self.offset, self.line = offset, line


class _NulGuard(io.BufferedIOBase):
    """A byte stream that refuses NUL bytes wherever they are: no text file holds one, and a
    NUL inside a name would otherwise be sent to kelviq. ``bytes.find`` on each block costs
    next to nothing against parsing."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self._offset = 0
        self._lines = 1

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._check(self._raw.read(-1 if size is None else size))

    def read1(self, size: int = -1) -> bytes:
        read1 = getattr(self._raw, "read1", None)
        return self._check(read1(size) if read1 is not None else self._raw.read(size))

    def _check(self, data: bytes) -> bytes:
        at = data.find(b"\x00")
        if at >= 0:
            raise _NulByte(self._offset + at, self._lines + data.count(b"\n", 0, at))
        self._offset += len(data)
        self._lines += data.count(b"\n")
        return data


def _decode_error(table: Table) -> InputError:
    """Where strict decoding fails, as a person can find it, and what to do about it."""
    offset, line = _first_bad_byte(table)
    where = f"byte offset {offset} (line {line})" if offset is not None else "its end"
    return InputError(f"{table.path}: not valid {table.encoding} at {where}; {_encoding_hint(table, offset)}")


def _ragged(line: int, fields: list[str], width: int) -> SourceRow:
    """A record with the wrong number of fields: reported, with what it held kept in ``cells``
    (padded or cut to the header) so that failed.csv shows the line to fix."""
    extra = [f for f in fields[width:] if f.strip()]
    shown = ", ".join(repr(f) for f in extra[:3])
    problem = Problem(
        kind=f"line has {'more' if len(fields) > width else 'fewer'} fields than the header",
        detail=f"{len(fields)} fields, the header has {width}"
        + (f"; beyond the last column: {shown[:120]}{', …' if len(extra) > 3 else ''}" if extra else ""),
    )
    cells = tuple(fields[:width]) + ("",) * (width - len(fields))
    return SourceRow(line, cells, problem)


def _swallowed_records(fields: list[str], delimiter: str, width: int) -> int:
    """Lines inside a multi-line field that have a record's worth of delimiters."""
    if width < 2:
        return 0
    return sum(
        1 for f in fields if "\n" in f for line in f.splitlines()[1:] if line.count(delimiter) >= width - 1
    )


def _first_bad_byte(table: Table) -> tuple[int | None, int]:
    """Where strict decoding fails: the absolute byte offset and its line, found by a re-read."""
    decoder = codecs.getincrementaldecoder(table.encoding or "utf-8")(errors="strict")
    offset = lines = 0
    with _open_binary(table) as raw:
        while block := raw.read(1 << 16):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                # The decoder may hold back a few bytes of an unfinished character.
                held = len(exc.object) - len(block)
                bad = offset + exc.start - held
                return bad, lines + exc.object[: exc.start].count(b"\n") + 1
            except UnicodeError:
                return offset, lines + 1
            offset += len(block)
            lines += block.count(b"\n")
    return None, lines + 1


def _encoding_hint(table: Table, offset: int | None = None) -> str:
    """What to do next. charset-normalizer's guess is a hint, never applied: it often calls
    Western cp1252 exports cp1250, so cp1252 is offered first whenever it decodes the bytes."""
    try:
        from charset_normalizer import from_bytes

        with _open_binary(table) as raw:
            head = raw.read(1 << 20)
            if offset is not None and offset >= len(head) - 64:
                raw.seek(max(0, offset - 64))
                head = raw.read(1 << 16)
                offset = min(offset, 64)
        best = from_bytes(head).best()
        guesses = [best.encoding] if best is not None else []
    except Exception:  # a hint must never be the reason a run fails
        return "state the file's encoding with --encoding (for example cp1252)"
    names = []
    for name in ["cp1252", *guesses]:
        try:
            head.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        shown = codecs.lookup(name).name.replace("_", "-").replace("iso8859-1", "latin-1")
        if shown not in names and shown != codecs.lookup(table.encoding or "utf-8").name:
            names.append(shown)
    if not names:
        return "state the file's encoding with --encoding (for example cp1252)"
    shown = ""
    if offset is not None:
        line_start = head.rfind(b"\n", 0, offset) + 1
        line_end = head.find(b"\n", offset)
        snippet = head[line_start : line_end if line_end != -1 else offset + 40][:80]
        shown = f" (that line reads {snippet.decode(names[0], errors='replace').strip()!r} in {names[0]})"
    others = f" or {', '.join(names[1:])}" if names[1:] else ""
    return f"it looks like {names[0]}{others}{shown}: run again with --encoding {names[0]}"
