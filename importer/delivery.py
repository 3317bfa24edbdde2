"""One row's conversation with the API under the chosen mode, and its journal entry.

Modes: create (POST), upsert (POST new, PATCH known; a refused POST of an existing customer
becomes a PATCH, a refused PATCH of an unknown one a POST), update (PATCH). How a refusal is
read is contract.refusal's business; where an answer does not say, kelviq is asked.
"""

from __future__ import annotations

from .client import KelviqClient, Outcome
from .config import ImportConfig
from .contract import Payload, Refusal, differences, refusal
from .journal import Journal, JournalEntry, payload_hash
from .mapping import Mapped, create_payload
from .report import RowResult
from .statuses import Status

__all__ = ["Delivery"]


class Delivery:
    """One row's conversation with the API under the chosen mode, and the journal entry after.

    How each refusal is read is contract.refusal's business; where an answer does not say
    whether the customer exists, kelviq is asked (KelviqClient.exists) before deciding.
    """

    def __init__(self, config: ImportConfig, api: KelviqClient, journal: Journal | None) -> None:
        self.mode = config.mode
        self.on_conflict = config.on_conflict
        self.api = api
        self.journal = journal

    async def _refusal(self, outcome: Outcome, cid: str) -> Refusal | None:
        """What a refused write means: None when it was no refusal (gave up, 5xx, bad 2xx)."""
        answer = outcome.answer
        if outcome.ok or answer is None or not 400 <= answer.status < 500 or answer.status == 429:
            return None
        kind = refusal(answer)
        if kind == "unclear":
            found = await self.api.exists(cid)
            if found is not None:
                kind = "exists" if found else "unknown"
        return kind

    async def _ours(self, outcome: Outcome, cid: str, payload: Payload, intent: bytes | None) -> bool:
        """After "already exists": was it this importer's own earlier POST (an answer lost in
        this run, or in a run killed mid-request, per the journal's intent)? Then kelviq holds
        what we sent; a look at the customer confirms it where the API allows."""
        if not outcome.uncertain and intent is None:
            return False
        found = await self.api.retrieve(cid)
        if found.ok and found.body is not None:
            return not differences(payload, found.body)
        return outcome.uncertain or intent == payload_hash(payload)

    async def __call__(
        self, item: Mapped, known: JournalEntry | None, digest: bytes, intent: bytes | None
    ) -> RowResult:
        """``known``: what the journal says kelviq accepted; ``intent``: a payload an earlier
        run sent for this customer without hearing back."""
        assert item.payload is not None
        cid, payload = item.customer_id, item.payload
        attempts = 0
        journal = self.journal

        def result(status: Status, outcome: Outcome, error: str | None = None) -> RowResult:
            kelviq_id = outcome.kelviq_id or (known.kelviq_id if known else None)
            if status in ("created", "updated") and journal is not None:
                journal.record(cid, digest, kelviq_id)
            return RowResult(
                row=item.row,
                customer_id=cid,
                status=status,
                http_status=outcome.http_status,
                kelviq_id=kelviq_id,
                attempts=attempts,
                error=error if error is not None else outcome.error,
                cells=item.cells,
            )

        if self.mode == "update" or (self.mode == "upsert" and known is not None):
            outcome = await self.api.update(cid, payload)
            attempts += outcome.attempts
            if outcome.ok:
                return result("updated", outcome)
            kind = await self._refusal(outcome, cid)
            if kind != "unknown":
                return result("failed", outcome)
            if self.mode == "update":
                return result(
                    "failed", outcome, f"no customer {cid!r} in kelviq (--mode update): {outcome.error}"
                )
            # The journal knew it, the API does not (deleted since): create it again.
            if journal is not None:
                journal.forget(cid)
            known = None
        outcome = await self.api.create(create_payload(payload))
        attempts += outcome.attempts
        if outcome.ok:
            return result("created", outcome)
        if await self._refusal(outcome, cid) != "exists":
            return result("failed", outcome)
        if await self._ours(outcome, cid, payload, intent):
            # An earlier attempt of ours reached the API before its answer was lost.
            return result("created", outcome, "")
        if self.mode == "upsert":
            outcome = await self.api.update(cid, payload)
            attempts += outcome.attempts
            return result("updated" if outcome.ok else "failed", outcome)
        if self.on_conflict == "unchanged":
            return result("unchanged", outcome, "already exists in kelviq; left as it is")
        return result(
            "failed", outcome, f"customer {cid!r} already exists in kelviq (--mode create): {outcome.error}"
        )
