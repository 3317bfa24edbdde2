"""In-memory inputs for the Python API: a pandas DataFrame or any iterable of mappings.

Such a source is written once, as it is read, to a private JSON Lines file that lives as long
as the call: the duplicate scan, the import and the report then read it as they read any file
(a generator can be read only once; memory stays flat for one), and failed.csv holds the
source's own columns, so a DataFrame import is fixed and re-run like a file import. Values are
converted as a person expects (records.value_text): ``123`` for an integer id held as a float,
NaN/None/NaT as empty cells, nullable integers as integers, Timestamps as ISO 8601, categories
as their labels. pandas is never imported here: a DataFrame is recognised by what it offers.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, cast

from .config import DataFrameLike, ImportConfig, Source
from .database import DatabaseSource, spool_database
from .errors import InputError, UsageError
from .readers.records import flatten
from .readers.spool import SPOOL_FORMAT, SpoolWriter

__all__ = ["DataFrameLike", "Source", "materialised"]


@contextmanager
def materialised(config: ImportConfig) -> Iterator[ImportConfig]:
    """``config`` whose input is a file: as it is for a path, a spooled JSON Lines file (removed
    when the block ends) for a DataFrame or rows, with ``input_name`` saying what it was."""
    source = config.input
    if isinstance(source, str | os.PathLike):
        yield config
        return
    if isinstance(source, DatabaseSource):
        with tempfile.TemporaryDirectory(prefix="kelviq-import-source-") as tmp:
            spool = Path(tmp) / "query.rows"
            with spool.open("w", encoding="utf-8", newline="\n") as out:
                count = spool_database(source, SpoolWriter(out))
            if count == 0 and not config.allow_empty:
                raise InputError(f"{source.display}: no rows to import")
            yield replace(
                config,
                input=spool,
                file_format=SPOOL_FORMAT,
                input_name=config.input_name or source.display,
                input_kind="database",
            )
        return
    if isinstance(source, bytes | Mapping) or not isinstance(source, Iterable | DataFrameLike):
        raise UsageError(
            f"ImportConfig(input=…) takes a path, a pandas DataFrame or an iterable of mappings "
            f"(dicts), not {type(source).__name__}"
        )
    label = "DataFrame" if isinstance(source, DataFrameLike) else "rows"
    with tempfile.TemporaryDirectory(prefix="kelviq-import-source-") as tmp:
        spool = Path(tmp) / f"{label}.jsonl"
        with spool.open("w", encoding="utf-8", newline="\n") as out:
            if isinstance(source, DataFrameLike):
                count = _write_frame(source, out)
            else:
                count = _write_rows(cast(Iterable[Any], source), out)
        if count == 0:
            raise InputError(f"{config.input_name or label}: no rows to import")
        yield replace(
            config, input=spool, file_format="jsonl", input_name=config.input_name or label, input_kind=label
        )


def _write_record(row: Mapping[str, Any], out: IO[str]) -> None:
    cells, _ = flatten(row)
    _write_cells(cells, out)
    out.write("\n")


def _write_rows(rows: Iterable[Any], out: IO[str]) -> int:
    count = 0
    for count, row in enumerate(rows, 1):  # noqa: B007 - the count is the result
        if isinstance(row, Mapping):
            _write_record(row, out)
        else:
            # Kept as it is, so that the reader reports this row as "not an object".
            out.write(json.dumps(row, default=str) + "\n")
    return count


def _write_frame(frame: DataFrameLike, out: IO[str]) -> int:
    names = [n for n in frame.index.names if n is not None]
    if names:
        frame = frame.reset_index()  # type: ignore[attr-defined]  # named index levels are columns, as in to_csv
    columns = [".".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in frame.columns]
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise InputError(f"DataFrame: the column {name!r} appears twice; rename one")
        seen.add(name)
    count = 0
    for count, values in enumerate(frame.itertuples(index=False, name=None), 1):  # noqa: B007
        cells, _ = flatten(dict(zip(columns, values, strict=True)))
        _write_cells(cells, out)
        out.write("\n")
    return count


def _write_cells(cells: dict[str, str], out: IO[str]) -> None:
    """One spooled record. Text that UTF-8 cannot hold (half of a surrogate pair) goes in as a
    JSON escape, so that the reader makes it a problem of its row instead of the write failing."""
    text = json.dumps(cells, ensure_ascii=False)
    try:
        out.write(text)
    except UnicodeEncodeError:
        out.write(json.dumps(cells))
