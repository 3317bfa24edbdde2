"""What kelviq already holds, listed page by page: for ``verify``, and for a run with no journal.

A nightly job on an ephemeral runner (a Kubernetes CronJob, an Airflow worker) starts without a
journal every time; without a baseline it would send every row again, twice for a customer that
exists (POST, "already exists", PATCH). Listing the account first (``GET /customers/``, 100 a
page) costs one request per 100 customers and lets the run send only real differences: measured
on 20,000 customers with 200 changed, 201 list requests and 200 PATCHes instead of 40,000
requests (bench/RESULTS.md). When the account is much larger than the file (a small delta file
against a big account) listing costs more than it saves, so ``auto`` lists only when the pages
needed are no more than the rows to send.

The listing goes into a private temporary SQLite table, so memory stays flat however large the
account; pages are fetched ``concurrency`` at a time once the first page says how many there are.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from dataclasses import dataclass
from typing import Any

from .client import KelviqClient
from .errors import RunAborted

__all__ = ["PAGE_SIZE", "Listing", "Remote", "TooLarge", "list_customers", "pages_for"]

PAGE_SIZE = 100

REMOTE_TABLE = "CREATE TABLE IF NOT EXISTS remote (customer_id TEXT PRIMARY KEY, record TEXT) WITHOUT ROWID"


@dataclass(frozen=True)
class Listing:
    customers: int  # listed
    without_id: int  # listed with no customerId (made elsewhere): never compared
    pages: int


class TooLarge(Exception):
    """The account needs more pages than the caller's budget: listing would cost more."""

    def __init__(self, pages: int) -> None:
        self.pages = pages


def pages_for(count: int) -> int:
    return max(1, math.ceil(count / PAGE_SIZE))


async def list_customers(
    api: KelviqClient, db: sqlite3.Connection, *, concurrency: int = 1, budget: int | None = None
) -> Listing:
    """Every customer of the account into ``db``'s ``remote`` table.

    Raises RunAborted when a page cannot be listed, TooLarge when more than ``budget`` pages
    would be needed (known from the first page's ``count``, or found on the way without one).
    """
    db.execute(REMOTE_TABLE)
    first = await _page(api, 1)
    count, results = first.get("count"), first.get("results") or []
    # The server may cap the page size below ours: the first full page says what it is.
    size = len(results) if first.get("next") and results else PAGE_SIZE
    total_pages = math.ceil(count / size) if isinstance(count, int) and count > 0 else None
    if budget is not None and total_pages is not None and total_pages > budget:
        raise TooLarge(total_pages)
    customers, without_id, _ = _store(db, first)
    pages, body = 1, first
    if total_pages is not None and first.get("next"):
        # Page numbers are known: several at a time (nothing is written meanwhile).
        numbers = iter(range(2, total_pages + 1))
        while batch := [n for _, n in zip(range(max(1, concurrency)), numbers, strict=False)]:
            for number, body in zip(
                batch, await asyncio.gather(*(_page(api, n) for n in batch)), strict=True
            ):
                listed, missing, new = _store(db, body)
                customers, without_id, pages = customers + listed, without_id + missing, pages + 1
                _refuse_endless(body, new, number, count)
    # Without a count, or when the account grew meanwhile: follow ``next`` to the end, within
    # what the first page's count allows (a margin for customers added meanwhile).
    most = 2 * total_pages + 10 if total_pages is not None else None
    while body.get("next") and body.get("results"):
        pages += 1
        if budget is not None and pages > budget:
            raise TooLarge(pages)
        if most is not None and pages > most:
            raise RunAborted(
                f"listing customers did not end: {pages - 1} pages, where the API's count of {count} "
                f"allows {total_pages}; the listing is not to be trusted"
            )
        body = await _page(api, pages)
        listed, missing, new = _store(db, body)
        customers, without_id = customers + listed, without_id + missing
        _refuse_endless(body, new, pages, count)
    return Listing(customers, without_id, pages)


def _refuse_endless(body: dict[str, Any], new: int, page: int, count: Any) -> None:
    """A page of customers all listed before, with more said to follow: the API serves the
    same pages again (a ``next`` that never ends, a ``count`` of 10^12). Listing on would
    never end, holding the journal's lock; a listing that repeats itself is not trusted."""
    if new == 0 and body.get("results") and body.get("next"):
        raise RunAborted(
            f"listing customers did not end: page {page} holds only customers listed before "
            f"(the API counts {count}); the listing is not to be trusted"
        )


async def _page(api: KelviqClient, page: int) -> dict[str, Any]:
    outcome = await api.list_page(page=page, page_size=PAGE_SIZE)
    if not outcome.ok or outcome.body is None:
        raise RunAborted(f"listing customers failed on page {page}: {outcome.error}")
    return outcome.body


def _store(db: sqlite3.Connection, body: dict[str, Any]) -> tuple[int, int, int]:
    """Keep a page: (customers on it, those without a customerId, customerIds not seen before)."""
    results = body.get("results") or []
    rows = [
        (r["customerId"], json.dumps(r))
        for r in results
        if isinstance(r, dict) and isinstance(r.get("customerId"), str)
    ]
    ids = [cid for cid, _ in rows]
    seen = db.execute(
        "SELECT count(*) FROM remote WHERE customer_id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),),
    ).fetchone()[0]
    db.execute("BEGIN")
    db.executemany("INSERT OR REPLACE INTO remote VALUES (?, ?)", rows)
    db.execute("COMMIT")
    # -1: nothing to tell by (no customerIds on the page); else the customerIds new to the listing
    return len(results), len(results) - len(rows), len(set(ids)) - int(seen) if ids else -1


class Remote:
    """The account as listed, for one run: what kelviq holds for a customerId, if anything."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)  # "": a temporary file, gone on close

    async def load(self, api: KelviqClient, *, concurrency: int, budget: int | None) -> Listing:
        return await list_customers(api, self._db, concurrency=concurrency, budget=budget)

    def get(self, customer_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT record FROM remote WHERE customer_id = ?", (customer_id,)).fetchone()
        if row is None:
            return None
        record = json.loads(row[0])
        return record if isinstance(record, dict) else None

    @property
    def database(self) -> sqlite3.Connection:
        """The listing's own database (table ``remote``), for a caller that joins it with more."""
        return self._db

    def close(self) -> None:
        self._db.close()
