"""Read an input file as a stream of rows: ``path -> columns + iterator of SourceRow``.

Every cell is text. CSV-like files go through the stdlib csv parser, Excel workbooks through
calamine, JSON Lines, JSON arrays and Parquet through records.py, all one row (or one record
batch) at a time, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import errno
import io
import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple, cast

from .errors import InputError
from .problems import Problem
from .records import FIELD_LIMIT, Record, array_records, jsonl_records, parquet_columns, parquet_records

__all__ = [
    "CSV_SUFFIXES",
    "ERROR_COLUMN",
    "EXCEL_SUFFIXES",
    "FORMATS",
    "RECORD_SUFFIXES",
    "REPORT_COLUMNS",
    "ROW_COLUMN",
    "SourceRow",
    "Table",
    "open_table",
    "sniff_format",
]

# The two columns failed.csv adds to the input's own: the row's line in the original file, and
# why it failed. A mapping can never send them; fed back, the first keeps the row numbers.
ROW_COLUMN = "kelviq_import_row"
ERROR_COLUMN = "kelviq_import_error"
REPORT_COLUMNS = (ROW_COLUMN, ERROR_COLUMN)

FORMATS = (
    "csv",
    "tsv",
    "txt",
    "xlsx",
    "xlsm",
    "xls",
    "ods",
    "jsonl",
    "ndjson",
    "json",
    "parquet",
)  # --format
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
RECORD_SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet")
Kind = Literal["csv", "excel", "jsonl", "json", "parquet"]
KIND_NAMES: dict[Kind, str] = {
    "csv": "CSV",
    "excel": "workbook",
    "jsonl": "JSON Lines",
    "json": "JSON array",
    "parquet": "Parquet",
}
SNIFF_BYTES = 64 * 1024
csv.field_size_limit(FIELD_LIMIT)


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
        if self.kind == "excel":
            rows = _excel_rows(self)
        elif self.kind == "csv":
            rows = _csv_rows(self)
        else:
            return _record_rows(self)
        at = self.source_row_at
        if at is None:
            return rows
        # A failed.csv fed back: every report keeps pointing at the original file's lines,
        # however many rounds of fixing there were.
        return (r._replace(row=int(r.cells[at])) if r.cells[at].isdigit() else r for r in rows)


def sniff_format(head: bytes) -> str:
    """What a nameless input (stdin, a pipe) holds, from its first bytes; csv when unsure."""
    text = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(bytes.fromhex("d0cf11e0a1b11ae1")):
        return "xls"
    if text.startswith(b"{"):
        return "jsonl"
    if text.startswith(b"["):
        return "json"
    return "csv"


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in CSV_SUFFIXES + EXCEL_SUFFIXES + RECORD_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def open_table(
    path: Path | str,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    header_row: int | None = None,
    file_format: str | None = None,
) -> Table:
    """Open ``path``, read its header and check that rows can be streamed from it.

    ``header_row`` is the 1-based line or sheet row holding the header when it is not the
    first one (a title or export notes above it). ``file_format`` (csv, tsv, xlsx, …) says what
    the file is when its name does not (a spooled stdin, an export without a suffix).
    """
    path = Path(path)
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{path}: a loop of symbolic links (it never reaches a file)") from None
        if path.is_symlink():
            raise InputError(f"{path}: a broken symbolic link (to {str(path.readlink())!r})") from None
        if exc.errno == errno.ENOENT:
            raise InputError(f"{path}: no such file") from None
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a .csv, .tsv or .xlsx file")
    suffix = f".{file_format}" if file_format else _suffix(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if suffix in EXCEL_SUFFIXES:
        if head.startswith(bytes.fromhex("d0cf11e0a1b11ae1")) and suffix != ".xls":
            # An encrypted .xlsx is an OLE2 container, not a zip.
            raise InputError(
                f"{path}: the workbook is password-protected (or an old .xls renamed); "
                "save a copy without a password as .xlsx"
            )
        if delimiter is not None:
            raise InputError(f"{path}: --delimiter applies to CSV files, not to workbooks")
        return _open_excel(path, sheet, header_row)
    if suffix in RECORD_SUFFIXES:
        for flag, value in (("--delimiter", delimiter), ("--sheet", sheet), ("--header-row", header_row)):
            if value is not None:
                raise InputError(f"{path}: {flag} applies to CSV files or workbooks, not to {suffix[1:]}")
        return _open_records(path, suffix, head, encoding)
    if suffix not in CSV_SUFFIXES:
        raise InputError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; use .csv, .tsv, .csv.gz, .xlsx, "
            ".jsonl, .json or .parquet (or name the format with --format)"
        )
    if sheet is not None:
        raise InputError(f"{path}: --sheet applies to workbooks (.xlsx), not to CSV files")
    return _open_csv(path, suffix, head, encoding=encoding, delimiter=delimiter, header_row=header_row)


# --- CSV -------------------------------------------------------------------------------------


_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _encoding_guard(path: Path, head: bytes, asked: str | None, *, gz: bool) -> tuple[str | None, str | None]:
    """The encoding to read with, and a notice when it is not the one asked for.

    A byte-order mark wins over any setting: it says what the file is. A file that is valid
    UTF-8 and holds non-ASCII bytes is read as UTF-8 even when a single-byte encoding was asked
    (the mapping's ``[input]`` for the original export, typically, while the fixed failed.csv
    was saved as "CSV UTF-8"): reading it as cp1252 would turn ``Groß`` into ``GroÃŸ`` and send
    that, and text in a single-byte encoding is practically never also valid UTF-8 (every
    non-ASCII letter would need exactly the right continuation bytes after it).
    """
    if asked is None:
        return None, None
    try:
        name = codecs.lookup(asked).name
    except LookupError:
        return asked, None  # refused with its own message further on
    for bom, by_mark in _BOMS:
        if head.startswith(bom):
            if name.replace("_", "-").startswith(by_mark.removesuffix("-sig")):
                return asked, None
            return by_mark, (
                f"{path}: read as {by_mark.removesuffix('-sig').upper()}, not {asked}: the file starts with "
                "a byte-order mark, which says what it is"
            )
    if name.startswith(("utf-", "utf_")) or not _utf8_beyond_ascii(path, gz=gz):
        return asked, None
    return "utf-8", (
        f"{path}: read as UTF-8, not {asked}: the file is valid UTF-8 with non-ASCII characters "
        f'(saved as "CSV UTF-8"?), which {asked} would have turned into others'
    )


def _utf8_beyond_ascii(path: Path, *, gz: bool) -> bool:
    """Is the whole file valid UTF-8 with at least one non-ASCII character? Read in 1 MB
    blocks (about a millisecond each): the answer needs every byte, not a sample."""
    import gzip

    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    beyond = False
    try:
        with gzip.open(path, "rb") if gz else path.open("rb") as fh:
            while block := fh.read(1 << 20):
                if not beyond and block.isascii():
                    continue
                beyond = True
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except (UnicodeDecodeError, OSError, EOFError):
        return False
    return beyond


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
    encoding, notice = _encoding_guard(path, head, encoding, gz=suffix.endswith(".gz"))
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
    columns = _header_columns(path, header, end)
    return Table(path, columns, "csv", encoding, delimiter, None, end, notice, begin)


def _header_columns(path: Path, header: list[str], line: int) -> tuple[str, ...]:
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


# --- Records: JSON Lines, JSON arrays, Parquet ----------------------------------------------


def _open_records(path: Path, suffix: str, head: bytes, encoding: str | None) -> Table:
    if suffix == ".parquet":
        columns = parquet_columns(path)
        return Table(path, _record_columns(path, columns), "parquet", None, None, None, 0)
    encoding, notice = _encoding_guard(path, head, encoding, gz=False)
    encoding = _text_encoding(encoding) if encoding else "utf-8"
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
    return Table(path, _record_columns(path, list(seen)), kind, encoding, None, None, 0, notice)


def _text_encoding(encoding: str) -> str:
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise InputError(f"--encoding {encoding!r}: unknown encoding (try utf-8, cp1252, latin-1)") from None
    if not getattr(info, "_is_text_encoding", True):
        raise InputError(f"--encoding {encoding!r}: not a text encoding (try utf-8, cp1252, latin-1)")
    return info.name


def _record_columns(path: Path, names: list[str]) -> tuple[str, ...]:
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


# --- Excel -----------------------------------------------------------------------------------


def _open_excel(path: Path, sheet: str | None, header_row: int | None) -> Table:
    ws, name = _excel_sheet(path, sheet)
    for row_no, header in _numbered(ws):
        if row_no >= (header_row or 1) and any(_cell_text(c).strip() for c in header):
            break
    else:
        where = f" at or below row {header_row}" if header_row else ""
        raise InputError(f"{path}: sheet {name!r} has no header row{where}")
    _refuse_merged_header(path, ws, name, row_no)
    columns = _header_columns(path, [_cell_text(c) for c in header], row_no)
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
