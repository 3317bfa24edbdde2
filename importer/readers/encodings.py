"""Encodings of text inputs (delimited files, JSON): a byte-order mark wins, a file that is
valid UTF-8 is read as such whatever single-byte encoding was asked, and an encoding name is
checked before use. Shared by delimited.py and records.py."""

from __future__ import annotations

import codecs
from pathlib import Path

from ..errors import InputError

__all__ = ["encoding_guard", "text_encoding"]


_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def encoding_guard(path: Path, head: bytes, asked: str | None, *, gz: bool) -> tuple[str | None, str | None]:
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


def text_encoding(encoding: str) -> str:
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise InputError(f"--encoding {encoding!r}: unknown encoding (try utf-8, cp1252, latin-1)") from None
    if not getattr(info, "_is_text_encoding", True):
        raise InputError(f"--encoding {encoding!r}: not a text encoding (try utf-8, cp1252, latin-1)")
    return info.name
