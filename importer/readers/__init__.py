"""Read an input as a stream of rows: ``path -> columns + iterator of SourceRow``.

Every cell is text, one row (or one record batch) at a time, so memory stays flat whatever
the file's size. One module per family, each registering a ``Reader`` (base.py): delimited
text (``delimited.py``), workbooks (``excel.py``), records (``records.py``: JSON Lines, JSON
arrays, Parquet). ``open_table`` picks the reader from the file's name or ``--format``; every
list of the formats (``FORMATS``, the messages, the README) comes from the registry.
"""

from __future__ import annotations

import codecs
import errno
from pathlib import Path

from ..errors import InputError
from . import delimited, excel, records, spool  # noqa: F401 - each registers its reader
from .base import (
    ERROR_COLUMN,
    REPORT_COLUMNS,
    ROW_COLUMN,
    SNIFF_BYTES,
    Reader,
    SourceRow,
    Table,
    TableOptions,
    readers,
    spool_readers,
)

__all__ = [
    "ERROR_COLUMN",
    "FORMATS",
    "REPORT_COLUMNS",
    "ROW_COLUMN",
    "Reader",
    "SourceRow",
    "Table",
    "TableOptions",
    "formats_text",
    "open_table",
    "reader_for",
    "sniff_format",
]

FORMATS: tuple[str, ...] = tuple(f for r in readers() for f in r.formats)  # --format's choices


def formats_text() -> str:
    """``.csv, .tsv, .txt (also .gz), .xlsx, …``: the file names read, for messages and docs."""
    names = [s for r in readers() for s in r.suffixes if not s.endswith(".gz")]
    return ", ".join(names) + " (CSV also gzip-compressed)"


def reader_for(path: Path, file_format: str | None = None) -> tuple[Reader, str] | None:
    """The reader for a file by its name, or by ``--format``, and the suffix it answered to."""
    if file_format:
        every = (*readers(), *spool_readers())
        return next(((r, f".{file_format}") for r in every if file_format in r.formats), None)
    name = path.name.lower()
    found = [(r, s) for r in readers() for s in r.suffixes if name.endswith(s)]
    return max(found, key=lambda pair: len(pair[1])) if found else None  # .csv.gz over .gz


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
        raise InputError(f"{path}: is a directory, expected a file ({formats_text()})")
    found = reader_for(path, file_format)
    if found is None:
        shown = f".{file_format}" if file_format else path.suffix.lower() or "(none)"
        raise InputError(
            f"{path}: unsupported file type {shown!r}; use {formats_text()} "
            "(or name the format with --format)"
        )
    reader, suffix = found
    options = TableOptions(sheet=sheet, encoding=encoding, delimiter=delimiter, header_row=header_row)
    for option in options.given():
        if option not in reader.options:
            takers = " or ".join(r.name for r in readers() if option in r.options) or "no input"
            flag = "--" + option.replace("_", "-")
            raise InputError(f"{path}: {flag} applies to {takers}, not to {reader.name}")
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return reader.open(path, suffix, head, options)
