"""A workbook's rows, kept on disk after the first full pass, so the next pass replays them.

The input is read twice (the duplicate scan, then the import). For a workbook the second read
would unzip and parse the sheet again, a third of `validate`'s time on 100,000 rows; replaying
the rows the first pass wrote (one JSON array a row: number, cells, problem) costs a tenth of
that. One replay is kept at a time, in a private temporary directory removed at exit; it is
used only for the same file (path, size, modification time), sheet and header, and only once
the first pass has read the sheet to its end.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

from ..problems import Problem
from .base import SourceRow, Table

__all__ = ["replayed"]

Key = tuple[object, ...]
_kept: dict[Key, Path] = {}  # at most one entry
_directories: list[Path] = []  # the one private directory, once made


def replayed(table: Table, read: Callable[[Table], Iterator[SourceRow]]) -> Iterator[SourceRow]:
    """``read(table)``'s rows; from a file of them when this table was read to its end before."""
    key = _key(table)
    kept = _kept.get(key)
    if kept is not None and kept.exists():
        yield from _replay(kept)
        return
    spool = _new_file()
    complete = False
    try:
        with spool.open("w", encoding="utf-8") as out:
            for row in read(table):
                problem = asdict(row.problem) if row.problem is not None else None
                out.write(json.dumps([row.row, row.cells, problem], ensure_ascii=False) + "\n")
                yield row
        complete = True
    finally:
        if complete:
            for old in _kept.values():
                old.unlink(missing_ok=True)
            _kept.clear()
            _kept[key] = spool
        else:  # stopped early (--limit, an error): not the whole sheet
            spool.unlink(missing_ok=True)


def _replay(path: Path) -> Iterator[SourceRow]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row, cells, problem = json.loads(line)
            yield SourceRow(row, tuple(cells), Problem(**problem) if problem is not None else None)


def _key(table: Table) -> Key:
    stat = table.path.stat()
    return (
        str(table.path.resolve()),
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ino,
        table.sheet,
        table.header_row,
        table.columns,
    )


def _new_file() -> Path:
    if not _directories or not _directories[0].exists():
        made = Path(tempfile.mkdtemp(prefix="kelviq-import-replay-"))
        atexit.register(shutil.rmtree, made, ignore_errors=True)
        _directories[:] = [made]
    handle, name = tempfile.mkstemp(dir=_directories[0], suffix=".rows")
    os.close(handle)
    return Path(name)
