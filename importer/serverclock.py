"""How the API's clock stands to ours, bounded from its answers: enough to tell whether a
customer was created before or after this run first sent it.

Why: a POST whose answer was lost (a timeout, a dropped connection, a 5xx) may have created
the customer; the retry then hears "already exists". Whether that customer is this run's own
creation or was there before is written in its ``createdOn``, in the server's clock. Every
record the API makes while we wait for it bounds the offset between the clocks: made between
our send and our receipt, so ``offset`` lies in ``[made - received, made - sent]``. The
intersection over many answers is as narrow as the quickest round trip. The ``Date`` header
(1 s resolution) gives a coarser second bound for runs that have not made a record yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ServerClock"]

DATE_SAMPLES = 16  # Date headers read: a few bound the offset to its 1 s resolution


@dataclass
class _Bounds:
    lo: float = -math.inf
    hi: float = math.inf
    samples: int = 0

    def add(self, lo: float, hi: float) -> None:
        self.samples += 1
        new_lo, new_hi = max(self.lo, lo), min(self.hi, hi)
        if new_lo > new_hi:  # a clock was set meanwhile: the newest evidence wins
            new_lo, new_hi = lo, hi
        self.lo, self.hi = new_lo, new_hi

    @property
    def known(self) -> bool:
        return self.samples > 0


class ServerClock:
    """``offset = server clock - our clock``, as an interval (see the module docstring)."""

    def __init__(self) -> None:
        self._records = _Bounds()  # from createdOn/modifiedOn of records made meanwhile
        self._dates = _Bounds()  # from Date headers

    @property
    def wants_dates(self) -> bool:
        return self._dates.samples < DATE_SAMPLES

    def record_made(self, made: float, *, sent: float, received: float) -> None:
        """A record the API stamped ``made`` (its clock) while we waited from sent to received."""
        self._records.add(made - received, made - sent)

    def date_seen(self, date: float, *, sent: float, received: float) -> None:
        """A ``Date`` header (whole seconds, rounded down) on an answer between sent and received."""
        self._dates.add(date - received, date + 1.0 - sent)

    def made_after(self, made: float, ours: float) -> bool | None:
        """Was a server time ``made`` later than our time ``ours``? None: the clocks do not say."""
        # Record stamps first: the same clock and format as ``made``, and far narrower.
        bounds = self._records if self._records.known else self._dates
        if not bounds.known:
            return None
        if made - bounds.hi >= ours:
            return True
        if made - bounds.lo < ours:
            return False
        return None
