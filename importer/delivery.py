"""One row's conversation with the API under the chosen mode, and its journal entry.

Modes: create (POST), upsert (POST new, PATCH known; a refused POST of an existing customer
becomes a PATCH, a refused PATCH of an unknown one a POST), update (PATCH). How a refusal is
read is contract.refusal's business; where an answer does not say, kelviq is asked.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal

from .client import KelviqClient, Lookup, Outcome
from .config import ImportConfig
from .contract import Payload, Refusal, differences, refusal
from .journal import Journal, JournalEntry
from .mapping import Mapped, create_payload
from .report import RowResult
from .statuses import Status

__all__ = ["Delivery"]

# Who made the customer that "already exists": this importer (a lost answer), somebody else
# (or values other than the file's), nobody we can tell; "same": there before, as the file says.
Holder = Literal["ours", "theirs", "same", "unconfirmed"]


class Delivery:
    """One row's conversation with the API under the chosen mode, and the journal entry after.

    How each refusal is read is contract.refusal's business; where an answer does not say
    whether the customer exists, kelviq is asked (KelviqClient.lookup) before deciding.
    """

    def __init__(self, config: ImportConfig, api: KelviqClient, journal: Journal | None) -> None:
        self.mode = config.mode
        self.on_conflict = config.on_conflict
        self.api = api
        self.journal = journal

    async def _refusal(self, outcome: Outcome, cid: str) -> tuple[Refusal | None, Lookup | None]:
        """What a refused write means (None: no refusal: gave up, 5xx, a bad 2xx), and the
        lookup made to tell, if one was needed."""
        answer = outcome.answer
        if outcome.ok or answer is None or not 400 <= answer.status < 500 or answer.status == 429:
            return None, None
        kind = refusal(answer)
        if kind != "unclear":
            return kind, None
        looked = await self.api.lookup(cid)
        if looked.state == "unknown":
            return kind, looked
        return ("exists" if looked.state == "found" else "unknown"), looked

    async def _holder(
        self, outcome: Outcome, payload: Payload, digest: bytes, intent: bytes | None, looked: Lookup | None
    ) -> tuple[Holder, Lookup | None]:
        """After "already exists": who made the customer kelviq holds, and does it hold the file's
        values? Asked of kelviq only when it matters: when an attempt of ours may have been
        applied (a lost answer in this run, or a run killed mid-request, per the journal's
        intent). "ours" is concluded only from a record that shows it: the file's values and
        a ``createdOn`` after our first attempt (or the journal's intent for these values)."""
        if not outcome.uncertain and intent is None:
            return "theirs", looked
        if looked is None or looked.state != "found":
            looked = await self.api.lookup(payload["customerId"])
        if looked.state == "unknown" or looked.record is None:
            return "unconfirmed", looked
        if differences(payload, looked.record):
            return "theirs", looked
        if intent is not None and intent == digest:
            return "ours", looked  # the earlier run's create whose answer died with it
        if outcome.uncertain and self.api.created_during(looked.record, outcome) is not False:
            # Made after our first attempt, or too close to it to tell apart (the clocks bound
            # that to about a second): a customer with these exact values created by someone
            # else in that second is far less likely than our own lost answer.
            return "ours", looked
        return "same", looked

    async def __call__(
        self, item: Mapped, known: JournalEntry | None, digest: bytes, intent: bytes | None
    ) -> RowResult:
        """``known``: what the journal says kelviq accepted; ``intent``: a payload an earlier
        run sent for this customer without hearing back."""
        row = _Row(item=item, known=known, digest=digest, journal=self.journal)
        if self.mode == "update" or (self.mode == "upsert" and known is not None):
            done = await self._patch_first(row)
            if done is not None:
                return done
            # The journal knew it, the API does not (deleted since): create it again.
            if self.journal is not None:
                self.journal.forget(item.customer_id)
            row.known = None
        return await self._post(row, intent)

    async def _patch_first(self, row: _Row) -> RowResult | None:
        """PATCH a customer believed to exist; None: it does not, create it (upsert)."""
        cid = row.item.customer_id
        outcome = await row.sent(self.api.update(cid, row.payload))
        if outcome.ok:
            return row.result("updated", outcome)
        kind, looked = await self._refusal(outcome, cid)
        if kind != "unknown":
            return row.refused(outcome, looked)
        if self.mode == "update":
            return row.result(
                "failed", outcome, f"no customer {cid!r} in kelviq (--mode update): {outcome.error}"
            )
        return None

    async def _post(self, row: _Row, intent: bytes | None) -> RowResult:
        cid, payload = row.item.customer_id, row.payload
        outcome = await row.sent(self.api.create(create_payload(payload)))
        if outcome.ok:
            return row.result("created", outcome)
        kind, looked = await self._refusal(outcome, cid)
        if kind != "exists":
            return row.refused(outcome, looked)
        holder, looked = await self._holder(outcome, payload, row.digest, intent, looked)
        if holder == "ours":
            # An earlier attempt of ours reached the API before its answer was lost.
            return row.result("created", outcome, "", shown=looked)
        if holder == "unconfirmed":
            return row.result("failed", outcome, _unconfirmed(cid, looked, outcome))
        if holder == "same" and self.mode == "upsert":
            return row.result("unchanged", outcome, "", shown=looked)
        if self.mode == "upsert":
            outcome = await row.sent(self.api.update(cid, payload))
            return row.result("updated" if outcome.ok else "failed", outcome)
        if self.on_conflict == "unchanged":
            return row.result("unchanged", outcome, "already exists in kelviq; left as it is")
        return row.result(
            "failed", outcome, f"customer {cid!r} already exists in kelviq (--mode create): {outcome.error}"
        )


@dataclass
class _Row:
    """One row in delivery: what is sent, the attempts so far, and its result and journal entry."""

    item: Mapped
    known: JournalEntry | None
    digest: bytes
    journal: Journal | None
    attempts: int = 0

    @property
    def payload(self) -> Payload:
        assert self.item.payload is not None
        return self.item.payload

    async def sent(self, request: Awaitable[Outcome]) -> Outcome:
        outcome = await request
        self.attempts += outcome.attempts
        return outcome

    def refused(self, outcome: Outcome, looked: Lookup | None) -> RowResult:
        """Failed with the API's words, or "could not confirm" where a lookup could not tell."""
        unsure = looked is not None and looked.state == "unknown"
        return self.result(
            "failed", outcome, _unconfirmed(self.item.customer_id, looked, outcome) if unsure else None
        )

    def result(
        self, status: Status, outcome: Outcome, error: str | None = None, *, shown: Lookup | None = None
    ) -> RowResult:
        """``shown``: a lookup that showed kelviq holding the file's values (journaled as such)."""
        record = shown.record if shown is not None and shown.record is not None else {}
        known = self.known
        kelviq_id = outcome.kelviq_id or (str(record["id"]) if record.get("id") else None)
        kelviq_id = kelviq_id or (known.kelviq_id if known else None)
        if self.journal is not None and (status in ("created", "updated") or record):
            self.journal.record(self.item.customer_id, self.digest, kelviq_id)
        return RowResult(
            row=self.item.row,
            customer_id=self.item.customer_id,
            status=status,
            http_status=outcome.http_status,
            kelviq_id=kelviq_id,
            attempts=self.attempts,
            error=error if error is not None else outcome.error,
            cells=self.item.cells,
        )


def _unconfirmed(cid: str, looked: Lookup | None, outcome: Outcome) -> str:
    why = looked.why if looked is not None and looked.why else "kelviq did not show it"
    return f"could not confirm whether customer {cid!r} exists ({why}); the API said: {outcome.error}"
