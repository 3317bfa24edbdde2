"""Customers that left the source: in kelviq (and in scope) but no longer in the input.

A nightly full export is the truth; a customer deleted or merged in the CRM simply stops
appearing, and kelviq would go on billing it. The vendor's contract has no delete, and an
importer must not delete anyway: it reports (``absent.csv``) and, with ``tag``, marks each one
with a metadata key holding the date it was first seen absent, removed again when the customer
comes back. Reverse-ETL tools call this "mirror" mode.

- **Scope**: by default only customers this importer wrote (its journal knows them, or their
  metadata carries the mapping's ``[static_metadata]`` marker, e.g. ``source = "legacy_crm"``);
  ``all`` is an explicit choice. With ``--shard``, only this shard's share.
- **Guard**: ``tag`` refuses (RunAborted, exit 3, nothing tagged) when more than ``guard`` of the
  scope is absent: a truncated export must not mark half the customer base.
- Exact and idempotent: a customer already tagged is not PATCHed again.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .baseline import Remote
from .client import KelviqClient
from .config import AbsentMode, AbsentScope, Shard
from .errors import RunAborted
from .journal import Journal
from .report import open_output, safe_cell

__all__ = ["Absentees", "check_absent"]


@dataclass(frozen=True, slots=True)
class Absentees:
    """What the check found and did: customers in scope, those absent, tagged and untagged now."""

    scope: int
    absent: int
    tagged: int = 0
    untagged: int = 0
    failed: int = 0  # PATCHes of the tag refused (the run says which in absent.csv)


async def check_absent(  # noqa: PLR0913 - the check's inputs, by name
    api: KelviqClient,
    *,
    present: Iterator[str],
    journal: Journal | None,
    marker: Mapping[str, str],
    shard: Shard | None,
    mode: AbsentMode,
    scope: AbsentScope,
    key: str,
    guard: float,
    report_dir: Path,
    protected: tuple[Path, ...] = (),
    concurrency: int = 8,
) -> Absentees:
    """List kelviq, compare with the input's customerIds (``present``), report and tag."""
    remote = Remote()
    try:
        await remote.load(api, concurrency=concurrency, budget=None)
        db = remote.database
        db.execute("CREATE TEMP TABLE present (customer_id TEXT PRIMARY KEY) WITHOUT ROWID")
        db.execute("BEGIN")
        db.executemany("INSERT OR IGNORE INTO present VALUES (?)", ((cid,) for cid in present))
        db.execute("COMMIT")

        def in_scope(record: dict[str, Any]) -> bool:
            cid = record.get("customerId")
            if not isinstance(cid, str) or (shard is not None and not shard.holds(cid, 0)):
                return False
            if scope == "all":
                return True
            meta = _metadata(record)
            marked = bool(marker) and all(meta.get(k) == v for k, v in marker.items())
            return marked or (journal is not None and journal.get(cid) is not None)

        absent, in_scope_count = [], 0
        for record, here in _records(db):
            if not in_scope(record):
                continue
            in_scope_count += 1
            if not here:
                absent.append(record)
        if mode == "tag" and in_scope_count and len(absent) > guard * in_scope_count:
            raise RunAborted(
                f"{len(absent)} of the {in_scope_count} customers in scope are absent from the input "
                f"(more than {guard:.0%}): is the export cut short? Nothing was tagged; "
                "pass --absent-guard with a larger share if this is right"
            )
        today = dt.datetime.now(dt.UTC).date().isoformat()
        since = _since(journal, absent, key, today)
        result = Absentees(scope=in_scope_count, absent=len(absent))
        refused: dict[str, str] = {}
        if mode == "tag":
            result = await _tag(api, db, absent, key=key, today=today, result=result, refused=refused)
        _write(report_dir / "absent.csv", absent, since, refused, protected)
        return result
    finally:
        remote.close()


def _metadata(record: Mapping[str, Any]) -> dict[str, Any]:
    meta = record.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _records(db: sqlite3.Connection) -> Iterator[tuple[dict[str, Any], bool]]:
    rows = db.execute(
        "SELECT r.record, p.customer_id IS NOT NULL FROM remote r "
        "LEFT JOIN present p ON p.customer_id = r.customer_id ORDER BY r.customer_id"
    )
    for text, here in rows:
        record = json.loads(text)
        if isinstance(record, dict):
            yield record, bool(here)


def _since(journal: Journal | None, absent: list[dict[str, Any]], key: str, today: str) -> dict[str, str]:
    """When each was first seen absent: its tag, else the journal's record of it, else today."""
    seen = journal.absent_since([r["customerId"] for r in absent], today) if journal is not None else {}
    out = {}
    for record in absent:
        tagged = _metadata(record).get(key)
        out[record["customerId"]] = (
            tagged if isinstance(tagged, str) else seen.get(record["customerId"], today)
        )
    return out


async def _tag(
    api: KelviqClient,
    db: sqlite3.Connection,
    absent: list[dict[str, Any]],
    *,
    key: str,
    today: str,
    result: Absentees,
    refused: dict[str, str],
) -> Absentees:
    """PATCH the key onto absent customers that lack it, and off present ones that carry it.
    The whole metadata object is sent: the spec says a PATCH of metadata replaces it."""
    tagged = untagged = failed = 0
    for record in absent:
        meta = dict(_metadata(record))
        if key in meta:
            continue  # tagged on an earlier night: nothing to do (idempotent)
        meta[key] = today
        outcome = await api.update(record["customerId"], {"metadata": meta})
        if outcome.ok:
            tagged += 1
        else:
            failed += 1
            refused[record["customerId"]] = outcome.error or "refused"
    back = db.execute(
        "SELECT r.record FROM remote r JOIN present p ON p.customer_id = r.customer_id "
        "WHERE json_extract(r.record, '$.metadata.' || json_quote(?)) IS NOT NULL",
        (key,),
    )
    for (text,) in list(back):
        record = json.loads(text)
        meta = {k: v for k, v in _metadata(record).items() if k != key}
        outcome = await api.update(record["customerId"], {"metadata": meta})
        untagged += outcome.ok
        failed += not outcome.ok
    return Absentees(
        scope=result.scope, absent=result.absent, tagged=tagged, untagged=untagged, failed=failed
    )


def _write(
    path: Path,
    absent: list[dict[str, Any]],
    since: dict[str, str],
    refused: dict[str, str],
    protected: tuple[Path, ...],
) -> None:
    with open_output(path, protected=protected) as fh:
        out = csv.writer(fh)
        out.writerow(("customerId", "name", "email", "kelviq_id", "absent_since", "error"))
        for record in absent:
            cid = record["customerId"]
            out.writerow(
                tuple(
                    safe_cell(str(v) if v is not None else "")
                    for v in (
                        cid,
                        record.get("name"),
                        record.get("email"),
                        record.get("id"),
                        since.get(cid, ""),
                        refused.get(cid, ""),
                    )
                )
            )
