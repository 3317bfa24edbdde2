"""What happens to one row before any request: a pure function of the row, what the journal
and kelviq's list say of its customer, and the run's rules. No I/O: the driver moves values.

``decide`` returns ``Skip`` (the row's result is known without the API: invalid, unchanged,
already there in create mode, over ``--limit``) or ``Send`` (what a worker hands to Delivery).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from .config import ImportConfig, Mode, OnConflict
from .contract import differences
from .journal import JournalEntry, payload_hash
from .mapping import Mapped
from .report import RowResult

__all__ = ["NOT_LISTED", "Decision", "Rules", "Send", "Skip", "decide"]


class _NotListed:
    """kelviq's list was not loaded for this run (as opposed to: listed, and absent)."""

    def __repr__(self) -> str:
        return "NOT_LISTED"


NOT_LISTED: Final = _NotListed()
Listed = dict[str, Any] | None | _NotListed  # the listed record, absent (None), or NOT_LISTED


@dataclass(frozen=True, slots=True)
class Rules:
    """The run's settings that decide a row's fate."""

    mode: Mode = "upsert"
    on_conflict: OnConflict = "failed"
    full: bool = False  # send every row, whatever the journal says
    limit: int | None = None  # send at most this many rows (a trial run)

    @classmethod
    def of(cls, config: ImportConfig) -> Rules:
        return cls(mode=config.mode, on_conflict=config.on_conflict, full=config.full, limit=config.limit)


@dataclass(frozen=True, slots=True)
class Send:
    """A row for the workers: ``known`` is what kelviq is believed to hold (PATCH first),
    ``intent`` a payload an earlier run sent for this customer without hearing back."""

    item: Mapped
    known: JournalEntry | None
    digest: bytes
    intent: bytes | None


@dataclass(frozen=True, slots=True)
class Skip:
    """A row settled without a request. ``holds``: kelviq was seen holding the row's payload,
    so the journal records it (with ``kelviq_id``)."""

    result: RowResult
    holds: bool = False
    digest: bytes = b""


Decision = Send | Skip


def decide(
    item: Mapped,
    *,
    journal: JournalEntry | None,
    intent: bytes | None,
    listed: Listed,
    queued: int,
    rules: Rules,
) -> Decision:
    """The fate of one row. ``queued``: rows already handed to the workers in this run."""
    if item.payload is None:
        status = "skipped" if item.skipped else "invalid"
        return Skip(_result(item, status, error=item.problem, problems=item.problems))
    digest = payload_hash(item.payload)
    known = journal
    if isinstance(listed, dict):
        # kelviq's own list judges: absent -> create, equal -> unchanged, else update.
        kelviq_id = str(listed["id"]) if listed.get("id") is not None else None
        same = not differences(item.payload, listed)
        if same and intent is not None and intent == digest:
            # An earlier run sent exactly this and died before the answer: its create, which no
            # report has told yet (see README, "What created, updated and unchanged promise").
            return Skip(_result(item, "created", kelviq_id), holds=True, digest=digest)
        if rules.mode == "create":
            if rules.on_conflict == "unchanged":
                return Skip(_result(item, "unchanged", kelviq_id, "already exists in kelviq; left as it is"))
            return Skip(
                _result(
                    item,
                    "failed",
                    kelviq_id,
                    f"customer {item.customer_id!r} already exists in kelviq (--mode create)",
                )
            )
        if same:
            return Skip(_result(item, "unchanged", kelviq_id), holds=True, digest=digest)
        known = JournalEntry(b"", kelviq_id)
    elif listed is None:
        known = None
    elif known is not None and known.payload_hash == digest and not rules.full:
        return Skip(_result(item, "unchanged", known.kelviq_id))
    if rules.limit is not None and queued >= rules.limit:
        return Skip(_result(item, "not_sent", error=f"not sent: a trial run (--limit {rules.limit})"))
    return Send(item=item, known=known, digest=digest, intent=intent)


def _result(
    item: Mapped, status: Any, kelviq_id: str | None = None, error: str | None = None, problems: Any = ()
) -> RowResult:
    return RowResult(
        row=item.row,
        customer_id=item.customer_id,
        status=status,
        kelviq_id=kelviq_id,
        error=error,
        cells=item.cells,
        problems=problems,
    )
