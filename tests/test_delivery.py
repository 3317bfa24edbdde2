"""Delivery's matrix: mode x the API's answers x what a lookup shows x the journal's intent.

A fake client answers each request from the table, so every path of one row's conversation is
checked in microseconds. The answers named are the API behaviours relied on: a POST refused as
"exists" (409 here; contract.refusal reads every dialect to the same value, tested apart), a
PATCH of an unknown customer (404), and what ``lookup`` shows (found / absent / unknown).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from importer.client import Lookup, Outcome
from importer.config import ImportConfig
from importer.contract import Answer
from importer.delivery import Delivery
from importer.journal import JournalEntry, payload_hash
from importer.mapping import Mapped

PAYLOAD = {"customerId": "C1", "name": "Ada", "email": "ada@example.com"}
DIGEST = payload_hash(PAYLOAD)
RECORD = {"id": "k-1", "customerId": "C1", "name": "Ada", "email": "ada@example.com"}
OTHER = {**RECORD, "name": "Ada (old)"}


def ok(status: int, body: dict[str, Any] | None = None) -> Outcome:
    return Outcome(True, status, "k-1", 1, None, body or RECORD)


def refused(status: int, *, uncertain: bool = False) -> Outcome:
    body = {"detail": "exists"} if status == 409 else {"detail": "Not found."}
    answer = Answer(status=status, body=body, content_type="application/json")
    return Outcome(False, status, None, 1, f"{status} {body['detail']}", body, answer, uncertain)


GAVE_UP = Outcome(False, 503, None, 6, "gave up after 6 attempts: 503", uncertain=True)


@dataclass
class FakeApi:
    """Answers from lists, in order; records which requests were made."""

    posts: list[Outcome] = field(default_factory=list)
    patches: list[Outcome] = field(default_factory=list)
    looked: Lookup = field(default_factory=lambda: Lookup("absent"))
    made_during_run: bool | None = None
    calls: list[str] = field(default_factory=list)

    async def create(self, payload: dict[str, Any]) -> Outcome:
        self.calls.append("POST")
        return self.posts.pop(0)

    async def update(self, cid: str, payload: dict[str, Any]) -> Outcome:
        self.calls.append("PATCH")
        return self.patches.pop(0)

    async def lookup(self, cid: str) -> Lookup:
        self.calls.append("LOOKUP")
        return self.looked

    def created_during(self, record: dict[str, Any], outcome: Outcome) -> bool | None:
        return self.made_during_run


FOUND_SAME, FOUND_OTHER = Lookup("found", RECORD), Lookup("found", OTHER)
UNKNOWN = Lookup("unknown", why="the search for it failed: 503")
KNOWN = JournalEntry(b"old", "k-1")

# (mode, journal knows it, POSTs, PATCHes, lookup, created in this run, intent) -> status, calls
CASES = {
    "new customer": ("upsert", False, [ok(201)], [], None, None, None, "created", "POST"),
    "known, PATCH": ("upsert", True, [], [ok(200)], None, None, None, "updated", "PATCH"),
    "known, deleted since": (
        "upsert",
        True,
        [ok(201)],
        [refused(404)],
        None,
        None,
        None,
        "created",
        "PATCH POST",
    ),
    "exists, clear refusal": (
        "upsert",
        False,
        [refused(409)],
        [ok(200)],
        None,
        None,
        None,
        "updated",
        "POST PATCH",
    ),
    "lost answer, ours": (
        "upsert",
        False,
        [refused(409, uncertain=True)],
        [],
        FOUND_SAME,
        True,
        None,
        "created",
        "POST LOOKUP",
    ),
    "lost answer, there before with these values": (
        "upsert",
        False,
        [refused(409, uncertain=True)],
        [],
        FOUND_SAME,
        False,
        None,
        "unchanged",
        "POST LOOKUP",
    ),
    "lost answer, other values": (
        "upsert",
        False,
        [refused(409, uncertain=True)],
        [ok(200)],
        FOUND_OTHER,
        None,
        None,
        "updated",
        "POST LOOKUP PATCH",
    ),
    "lost answer, cannot confirm": (
        "upsert",
        False,
        [refused(409, uncertain=True)],
        [],
        UNKNOWN,
        None,
        None,
        "failed",
        "POST LOOKUP",
    ),
    "lost answer, the lookup sees none": (
        "upsert",
        False,
        [refused(409, uncertain=True)],
        [],
        Lookup("absent"),
        None,
        None,
        "failed",
        "POST LOOKUP",
    ),
    "killed run's intent, same values": (
        "upsert",
        False,
        [refused(409)],
        [],
        FOUND_SAME,
        False,
        DIGEST,
        "created",
        "POST LOOKUP",
    ),
    "killed run's intent, other values": (
        "upsert",
        False,
        [refused(409)],
        [ok(200)],
        FOUND_OTHER,
        None,
        DIGEST,
        "updated",
        "POST LOOKUP PATCH",
    ),
    "intent, cannot confirm": (
        "upsert",
        False,
        [refused(409)],
        [],
        UNKNOWN,
        None,
        DIGEST,
        "failed",
        "POST LOOKUP",
    ),
    "create, exists": ("create", False, [refused(409)], [], None, None, None, "failed", "POST"),
    "create, lost answer, ours": (
        "create",
        False,
        [refused(409, uncertain=True)],
        [],
        FOUND_SAME,
        True,
        None,
        "created",
        "POST LOOKUP",
    ),
    "create, there before with these values": (
        "create",
        False,
        [refused(409, uncertain=True)],
        [],
        FOUND_SAME,
        False,
        None,
        "failed",
        "POST LOOKUP",
    ),
    "update, unknown": ("update", False, [], [refused(404)], None, None, None, "failed", "PATCH"),
    "update, ok": ("update", False, [], [ok(200)], None, None, None, "updated", "PATCH"),
    "server gave up": ("upsert", False, [GAVE_UP], [], None, None, None, "failed", "POST"),
}


class FakeJournal:
    def __init__(self) -> None:
        self.recorded: list[str] = []

    def record(self, cid: str, digest: bytes, kelviq_id: str | None) -> None:
        self.recorded.append(cid)

    def forget(self, cid: str) -> None:
        pass


@pytest.mark.parametrize("case", list(CASES))
def test_delivery_matrix(case: str) -> None:
    mode, known, posts, patches, looked, during, intent, status, calls = CASES[case]
    api = FakeApi(posts=list(posts), patches=list(patches), looked=looked or Lookup("absent"))
    api.made_during_run = during
    journal = FakeJournal()
    config = ImportConfig(input="x.csv", api_key="k", mode=mode)
    deliver = Delivery(config, api, journal)  # type: ignore[arg-type]
    item = Mapped(row=2, customer_id="C1", payload=dict(PAYLOAD), problems=(), cells=())  # type: ignore[arg-type]
    result = asyncio.run(deliver(item, KNOWN if known else None, DIGEST, intent))
    assert (result.status, " ".join(api.calls)) == (status, calls), result.error
    # The journal records what kelviq was seen to hold: a failed row never.
    assert (journal.recorded == ["C1"]) == (status in ("created", "updated", "unchanged"))
    if status == "failed" and "LOOKUP" in calls and case != "create, there before with these values":
        assert "could not confirm whether customer 'C1' exists" in (result.error or "")
