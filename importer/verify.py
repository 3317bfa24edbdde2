"""Reconcile a file against kelviq: which customers are missing, which differ, field by field.

The API's customer list is paged into a temporary SQLite file first, so memory stays flat
however many customers the account holds; then the file is streamed and each valid row is
compared with what kelviq has for its customerId, on the fields the file sets.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .client import KelviqClient, Sleep
from .config import ImportConfig
from .contract import differences
from .errors import RunAborted
from .pipeline import Prepared, prepare
from .report import default_report_dir, open_output, safe_cell

__all__ = ["VerifySummary", "verify"]

PAGE_SIZE = 100


@dataclass(frozen=True)
class VerifySummary:
    input: str
    base_url: str
    counts: dict[str, int]
    customers_in_kelviq: int
    duration_s: float
    report_dir: str
    customers_without_id: int = 0  # listed with no customerId (made elsewhere): not compared

    @property
    def exit_code(self) -> int:
        return 1 if self.counts.get("missing", 0) or self.counts.get("different", 0) else 0


def verify(
    config: ImportConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep | None = None,
    prepared: Prepared | None = None,
) -> VerifySummary:
    prepared = prepared or prepare(config)
    t0 = time.perf_counter()
    report_dir = config.report_dir or default_report_dir()
    with tempfile.TemporaryDirectory(prefix="kelviq-verify-") as tmp:
        db = sqlite3.connect(Path(tmp) / "remote.sqlite3", isolation_level=None)
        db.execute("CREATE TABLE remote (customer_id TEXT PRIMARY KEY, record TEXT) WITHOUT ROWID")
        try:
            remote, without_id = asyncio.run(_download(config, db, transport, sleep))
            counts = _compare(prepared, db, report_dir, _inputs(config))
        finally:
            db.close()
    summary = VerifySummary(
        input=str(config.input),
        base_url=config.base_url,
        counts=counts,
        customers_in_kelviq=remote,
        customers_without_id=without_id,
        duration_s=round(time.perf_counter() - t0, 3),
        report_dir=str(report_dir),
    )
    data = {**summary.__dict__, "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    with open_output(report_dir / "verify-summary.json", protected=_inputs(config)) as fh:
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
        page, total, without_id = 1, 0, 0
        while True:
            outcome = await api.list_page(page=page, page_size=PAGE_SIZE)
            if not outcome.ok or outcome.body is None:
                raise RunAborted(f"listing customers failed on page {page}: {outcome.error}")
            results = outcome.body.get("results") or []
            rows = [
                (r["customerId"], json.dumps(r))
                for r in results
                if isinstance(r, dict) and isinstance(r.get("customerId"), str)
            ]
            without_id += len(results) - len(rows)
            db.execute("BEGIN")
            db.executemany("INSERT OR REPLACE INTO remote VALUES (?, ?)", rows)
            db.execute("COMMIT")
            total += len(results)
            if not outcome.body.get("next") or not results:
                return total, without_id
            page += 1


def _inputs(config: ImportConfig) -> tuple[Path, ...]:
    return tuple(p for p in (config.input, config.mapping) if p is not None)


def _compare(
    prepared: Prepared, db: sqlite3.Connection, report_dir: Path, protected: tuple[Path, ...]
) -> dict[str, int]:
    report_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with open_output(report_dir / "verify.csv", protected=protected) as fh:
        out = csv.writer(fh)
        out.writerow(("row", "customerId", "status", "differences"))
        for item in prepared.mapped():
            if item.payload is None:
                status, detail = ("skipped" if item.skipped else "invalid"), item.problem or ""
            else:
                found = db.execute(
                    "SELECT record FROM remote WHERE customer_id = ?", (item.customer_id,)
                ).fetchone()
                if found is None:
                    status, detail = "missing", "no customer with this customerId in kelviq"
                else:
                    diffs = differences(item.payload, json.loads(found[0]))
                    status, detail = ("different", "; ".join(diffs)) if diffs else ("match", "")
            counts[status] = counts.get(status, 0) + 1
            out.writerow((item.row, item.customer_id, status, safe_cell(detail)))
    return dict(sorted(counts.items()))
