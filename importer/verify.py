"""Prove a migration: is every customer of the files in kelviq, and the same, field by field?

Several files may be given: the legacy export, then the failed.csv files fixed round by round.
Later files win: a row of a failed.csv stands in for the original line it came from (its
``kelviq_import_row``), and a customerId seen again stands in for the earlier row. What is left
must all be valid, present and equal for exit 0: a row still invalid cannot be checked, so it
counts against the proof. The API's customer list and the expected rows go into a temporary
SQLite file, so memory stays flat however large the account or the files.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from .baseline import list_customers
from .client import KelviqClient, Sleep
from .config import ImportConfig
from .contract import differences
from .errors import ExitCode
from .prepare import Prepared, prepare
from .report import default_report_dir, open_output, safe_cell
from .sources import materialised
from .syncapi import refuse_running_loop

__all__ = ["VerifySummary", "averify", "verify"]


@dataclass(frozen=True)
class VerifySummary:
    input: str
    base_url: str
    counts: dict[str, int]  # match, different, missing, invalid (rows that cannot be checked)
    customers_in_kelviq: int
    duration_s: float
    report_dir: str
    customers_without_id: int = 0  # listed with no customerId (made elsewhere): not compared
    files: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 only when every row left standing is in kelviq and matches."""
        return int(ExitCode.OK if set(self.counts) <= {"match"} else ExitCode.ROWS_TO_FIX)


def verify(
    config: ImportConfig,
    *,
    more: Sequence[Path] = (),
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep | None = None,
    prepared: Prepared | None = None,
) -> VerifySummary:
    """Check ``config.input`` and then ``more`` (fixed failed.csv files, later ones winning)."""
    refuse_running_loop("verify", "averify")
    return asyncio.run(averify(config, more=more, transport=transport, sleep=sleep, prepared=prepared))


async def averify(
    config: ImportConfig,
    *,
    more: Sequence[Path] = (),
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep | None = None,
    prepared: Prepared | None = None,
) -> VerifySummary:
    """``verify`` for callers inside an event loop; the same arguments and summary."""
    with materialised(config) as ready:
        return await _verify(ready, more=more, transport=transport, sleep=sleep, prepared=prepared)


async def _verify(
    config: ImportConfig,
    *,
    more: Sequence[Path],
    transport: httpx.AsyncBaseTransport | None,
    sleep: Sleep | None,
    prepared: Prepared | None,
) -> VerifySummary:
    files = (config.path, *(Path(p) for p in more))
    prepared_files = [
        prepared or prepare(config),
        *(prepare(replace(config, input=Path(p), input_name=None, file_format=None)) for p in more),
    ]
    t0 = time.perf_counter()
    report_dir = config.report_dir or default_report_dir(config.report_root)
    protected = tuple(p for p in (*files, config.mapping) if p is not None)
    with tempfile.TemporaryDirectory(prefix="kelviq-verify-") as tmp:
        db = sqlite3.connect(Path(tmp) / "verify.sqlite3", isolation_level=None)
        db.executescript(_SCHEMA)
        try:
            for index, prep in enumerate(prepared_files):
                _expect(db, index, prep)
            remote, without_id = await _download(config, db, transport, sleep)
            counts = _compare(db, files, report_dir, protected)
        finally:
            db.close()
    summary = VerifySummary(
        files=(config.display, *(str(f) for f in files[1:])),
        input=config.display,
        base_url=config.base_url,
        counts=counts,
        customers_in_kelviq=remote,
        customers_without_id=without_id,
        duration_s=round(time.perf_counter() - t0, 3),
        report_dir=str(report_dir),
    )
    data = {**summary.__dict__, "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    with open_output(report_dir / "verify-summary.json", protected=protected) as fh:
        fh.write(json.dumps(data, indent=2) + "\n")
    return summary


async def _download(
    config: ImportConfig,
    db: sqlite3.Connection,
    transport: httpx.AsyncBaseTransport | None,
    sleep: Sleep | None,
) -> tuple[int, int]:
    """Page through the customer list into ``db``: (customers listed, those without an id)."""
    async with KelviqClient(
        config.base_url,
        config.api_key,
        concurrency=1,
        rate=config.rate,
        timeout=config.timeout,
        retry=config.retry,
        transport=transport,
        sleep=sleep,
    ) as api:
        listing = await list_customers(api, db, concurrency=min(config.workers, 16))
        return listing.customers, listing.without_id


_SCHEMA = """
CREATE TABLE remote (customer_id TEXT PRIMARY KEY, record TEXT) WITHOUT ROWID;
CREATE TABLE expected (
    seq INTEGER PRIMARY KEY, origin INTEGER, customer_id TEXT,
    file INTEGER, row INTEGER, payload TEXT, problem TEXT, cleared TEXT
);
CREATE INDEX expected_origin ON expected (origin);
CREATE INDEX expected_id ON expected (customer_id);
"""


def _expect(db: sqlite3.Connection, index: int, prepared: Prepared) -> None:
    """What kelviq should hold after this file, later rows standing in for earlier ones."""
    chained = prepared.table.source_row_at is not None  # a failed.csv: rows are original lines
    db.execute("BEGIN")
    for item in prepared.mapped():
        if item.skipped:
            continue  # left out on purpose (--on-duplicate): the kept row speaks for it
        if chained:
            db.execute("DELETE FROM expected WHERE origin = ?", (item.row,))
        if item.customer_id:
            db.execute("DELETE FROM expected WHERE customer_id = ?", (item.customer_id,))
        db.execute(
            "INSERT INTO expected (origin, customer_id, file, row, payload, problem, cleared) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                item.row,
                item.customer_id or None,
                index,
                item.row,
                json.dumps(item.payload) if item.payload is not None else None,
                item.problem,
                json.dumps(prepared.mapper.cleared(item.payload)) if item.payload is not None else None,
            ),
        )
    db.execute("COMMIT")


def _compare(
    db: sqlite3.Connection, files: tuple[Path, ...], report_dir: Path, protected: tuple[Path, ...]
) -> dict[str, int]:
    report_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    rows = db.execute(
        "SELECT e.file, e.row, e.customer_id, e.payload, e.problem, e.cleared, r.record FROM expected e "
        "LEFT JOIN remote r ON r.customer_id = e.customer_id ORDER BY e.file, e.row"
    )
    with open_output(report_dir / "verify.csv", protected=protected) as fh:
        out = csv.writer(fh)
        out.writerow(("file", "row", "customerId", "status", "differences"))
        for file, row, customer_id, payload, problem, cleared, record in rows:
            if payload is None:
                status, detail = "invalid", f"cannot be checked: {problem}"
            elif record is None:
                status, detail = "missing", "no customer with this customerId in kelviq"
            else:
                diffs = differences(json.loads(payload), json.loads(record), tuple(json.loads(cleared)))
                status, detail = ("different", "; ".join(diffs)) if diffs else ("match", "")
            counts[status] = counts.get(status, 0) + 1
            out.writerow((files[file].name, row, customer_id or "", status, safe_cell(detail)))
    return dict(sorted(counts.items()))
