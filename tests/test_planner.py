"""The planner's table: a row's fate from what the journal and kelviq's list say, before any
request. Pure: no API behaviour is relied on (the list is given as data)."""

from __future__ import annotations

import pytest

from importer.journal import JournalEntry, payload_hash
from importer.mapping import Mapped
from importer.planner import NOT_LISTED, Rules, Send, Skip, decide

PAYLOAD = {"customerId": "C1", "name": "Ada"}
DIGEST = payload_hash(PAYLOAD)
ITEM = Mapped(row=2, customer_id="C1", payload=dict(PAYLOAD), problems=(), cells=())  # type: ignore[arg-type]
INVALID = Mapped(row=3, customer_id="", payload=None, problems=(), cells=())
SKIPPED = Mapped(row=4, customer_id="C1", payload=None, problems=(), cells=(), skipped=True)
SAME = {"id": "k1", "customerId": "C1", "name": "Ada"}
OTHER = {"id": "k1", "customerId": "C1", "name": "Ada (old)"}
JOURNAL_SAME = JournalEntry(DIGEST, "k1")
JOURNAL_OLD = JournalEntry(b"old", "k1")

# (item, journal, listed, rules, queued[, intent]) -> "status" (a Skip) or "send:patch"/"send:post"
CASES: dict[str, tuple] = {  # type: ignore[type-arg]
    "invalid row": (INVALID, None, NOT_LISTED, Rules(), 0, "invalid"),
    "duplicate left out": (SKIPPED, None, NOT_LISTED, Rules(), 0, "skipped"),
    "new, no list": (ITEM, None, NOT_LISTED, Rules(), 0, "send:post"),
    "journal: unchanged": (ITEM, JOURNAL_SAME, NOT_LISTED, Rules(), 0, "unchanged"),
    "journal: unchanged, --full": (ITEM, JOURNAL_SAME, NOT_LISTED, Rules(full=True), 0, "send:patch"),
    "journal: changed": (ITEM, JOURNAL_OLD, NOT_LISTED, Rules(), 0, "send:patch"),
    "listed: same": (ITEM, None, SAME, Rules(), 0, "unchanged+journal"),
    "listed: other values": (ITEM, None, OTHER, Rules(), 0, "send:patch"),
    "listed: absent, journal thought known": (ITEM, JOURNAL_SAME, None, Rules(), 0, "send:post"),
    "listed wins over the journal": (ITEM, JOURNAL_SAME, OTHER, Rules(), 0, "send:patch"),
    "create: listed exists": (ITEM, None, SAME, Rules(mode="create"), 0, "failed"),
    "create: listed exists, lenient": (
        ITEM,
        None,
        OTHER,
        Rules(mode="create", on_conflict="unchanged"),
        0,
        "unchanged",
    ),
    "over --limit": (ITEM, None, NOT_LISTED, Rules(limit=2), 2, "not_sent"),
    "within --limit": (ITEM, None, NOT_LISTED, Rules(limit=2), 1, "send:post"),
    "unchanged does not count against --limit": (
        ITEM,
        JOURNAL_SAME,
        NOT_LISTED,
        Rules(limit=1),
        1,
        "unchanged",
    ),
    "listed as a killed run sent it": (ITEM, None, SAME, Rules(), 0, "created+journal", DIGEST),
    "listed as a killed run sent it, create": (
        ITEM,
        None,
        SAME,
        Rules(mode="create"),
        0,
        "created+journal",
        DIGEST,
    ),
    "killed run sent other values": (ITEM, None, OTHER, Rules(), 0, "send:patch", DIGEST),
}


@pytest.mark.parametrize("case", list(CASES))
def test_planner(case: str) -> None:
    item, journal, listed, rules, queued, expected, *intent = CASES[case]
    decision = decide(
        item, journal=journal, intent=intent[0] if intent else None, listed=listed, queued=queued, rules=rules
    )
    if isinstance(decision, Send):
        got = "send:patch" if decision.known is not None else "send:post"
        assert decision.digest == DIGEST
    else:
        assert isinstance(decision, Skip)
        got = decision.result.status + ("+journal" if decision.holds else "")
        assert decision.result.row == item.row
    assert got == expected
