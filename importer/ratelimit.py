"""Pacing requests: an evenly spaced rate that finds the API's limit and keeps to it.

aiolimiter, which this replaced, fixes its rate when it is built; adapting to a server's real
limit needs a rate that moves, so the pacer is GCRA (a virtual schedule): each request gets the
next slot ``1/rate`` after the previous one; a small ``tolerance`` lets the schedule catch up
after the event loop woke a little late, without bursting.

How the rate moves (every figure measured in ``make bench``):

- **Slow start** (``--rate auto``): from ``start``, the rate doubles every ``slow_start_doubling``
  seconds until the API first pushes back (429, or enough 503s) or its latency rises well above
  the quietest seen: an API that queues is at its limit too.
- **A cut** estimates what the API accepts: successes per second since the previous cut (the
  server's bucket is empty by then, so this is its refill rate), else over the last second.
  When that is a fair share of the most the API was seen to accept in a second lately (not of
  the rate asked for, which the API never confirmed), it *is* the limit: the known-good rate
  becomes ``margin`` × it, and the rate drops to it at once. When nearly nothing was accepted
  it was a quota window or a pause, not a lower limit: the known-good rate is kept. Cuts are at
  least ``cooldown`` apart (longer when latency is long: one overload answers all the requests
  then in flight).
- **Recovery**: below the known-good rate the rate doubles every ``recover_doubling`` seconds,
  so a one-second quota window costs about a second, not the minutes a slow climb took.
- **Probing**: at or above the known-good rate it grows by ``probe`` of itself a second, up to
  the ceiling; a limit that rose is found, one that fell shows as a cut.

``Retry-After`` is the client's business and always wins for the request it answered: the
request is not retried earlier, whatever the pacer's rate.

With ``auto_concurrency`` the pacer also bounds the requests in flight by Little's law: the rate
it aims at × the mean latency × ``headroom`` (+2), within ``concurrency_bounds``. Latency then
never holds the run below its rate, and a slowing API does not collect an ever longer queue.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["AUTO_CEILING", "AUTO_CONCURRENCY", "AUTO_START", "Pacer"]

AUTO_START = 10.0  # --rate auto begins here: the former fixed default, polite to any API
AUTO_CEILING = 1000.0  # and never goes above this
AUTO_CONCURRENCY = (4, 128)  # --concurrency auto stays within these
_LN2 = math.log(2)
MIN_EVIDENCE = 3  # successes in a cut's interval before they are read as the API's limit


@dataclass
class Pacer:
    """Attributes read by the run's figures: ``rate`` (aimed at now), ``good`` (the rate the API
    was last found to accept, or None), ``limit_found``, ``cuts``, ``throttled_answers``,
    ``inflight_limit``."""

    ceiling: float
    start: float | None = None  # slow start from here (--rate auto); None: at the ceiling
    adaptive: bool = True
    auto_concurrency: bool = False
    concurrency_bounds: tuple[int, int] = AUTO_CONCURRENCY
    headroom: float = 1.5
    floor: float = 0.5
    decrease: float = 0.75  # the cut in a quota window (nothing accepted)
    margin: float = 0.97  # a found limit is kept this far under what the API accepted
    outage_share: float = 0.25  # accepted below this share of the good rate: a window, not a limit
    probe: float = 0.01  # above the good rate: share of the rate gained per second
    recover_doubling: float = 0.5  # seconds to double, below the good rate
    slow_start_doubling: float = 1.0  # seconds to double, before the first push-back
    cooldown: float = 0.25
    unavailable_share: float = 0.1
    tolerance: float = 0.05
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rate: float = field(init=False)
    good: float | None = field(default=None, init=False)
    verified: float | None = field(default=None, init=False)  # most successes in a second, lately
    limit_found: float | None = field(default=None, init=False)
    slow_start: bool = field(default=False, init=False)
    cuts: int = field(default=0, init=False)
    throttled_answers: int = field(default=0, init=False)
    inflight: int = field(default=0, init=False)
    inflight_limit: int = field(default=0, init=False)
    _next: float = field(default=0.0, init=False)
    _last_cut: float = field(default=float("-inf"), init=False)
    _since_cut: int = field(default=0, init=False)  # successes since the last cut
    _accepted: deque[float] = field(default_factory=deque, init=False)  # success times, last 1 s
    _unavailable: deque[float] = field(default_factory=deque, init=False)  # 503 times, last 1 s
    _latency_min: float = field(default=math.inf, init=False)
    _latency: float = field(default=0.0, init=False)  # moving mean of successes' latency
    _samples: int = field(default=0, init=False)
    _waiters: deque[asyncio.Future[None]] = field(default_factory=deque, init=False)

    def __post_init__(self) -> None:
        if self.ceiling <= 0:
            raise ValueError("rate must be positive")
        self.floor = min(self.floor, self.ceiling)
        if self.start is not None and self.adaptive:
            self.rate = min(self.start, self.ceiling)
            self.slow_start = self.rate < self.ceiling
        else:
            # A rate the user asked for is the good rate until the API says otherwise.
            self.rate = self.ceiling
            self.good = self.ceiling
        self.inflight_limit = self.concurrency_bounds[0] if self.auto_concurrency else 0

    # --- the schedule ---------------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait for a place among the requests in flight (auto concurrency) and for this
        request's slot; with auto concurrency, ``release()`` must follow the answer."""
        if self.auto_concurrency:
            while self.inflight >= self.inflight_limit:
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
            self.inflight += 1
        try:
            now = self.clock()
            slot = max(self._next, now - self.tolerance)
            self._next = slot + 1.0 / self.rate
            if slot - now > 1e-6:
                await self.sleep(slot - now)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if not self.auto_concurrency:
            return
        self.inflight -= 1
        self._wake()

    def _wake(self) -> None:
        free = self.inflight_limit - self.inflight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    # --- what the API said ----------------------------------------------------------------

    def throttled(self, status: int = 429) -> None:
        """The API said 429 (slow down: always heeded) or 503 (heeded when more than
        ``unavailable_share`` of the last second's answers were 503: a few scattered 503s are
        a flaky backend, not overload, and must not walk the rate down to the floor)."""
        if not self.adaptive:
            return
        now = self.clock()
        if status != 429:
            unavailable = self._unavailable
            unavailable.append(now)
            while unavailable and unavailable[0] < now - 1.0:
                unavailable.popleft()
            answers = len(unavailable) + self._window(now)
            if answers < 10 or len(unavailable) <= self.unavailable_share * answers:
                return
        self.throttled_answers += 1
        since = now - self._last_cut
        if since < max(self.cooldown, 1.5 * self._latency):
            return
        # What the API accepted: since the last cut when that was recent (its bucket has been
        # empty since), else over the last second; from a handful of answers, nothing is told.
        successes = self._since_cut if since < 1.0 else self._window(now)
        accepted = successes / since if since < 1.0 else float(successes)
        self._last_cut, self._since_cut = now, 0
        self.cuts += 1
        if successes >= MIN_EVIDENCE and accepted >= self.outage_share * (self.verified or 0):
            self._limit(accepted)
        else:  # a window or a pause: the good rate stands, and slow start goes on after it
            self.rate = max(self.floor, self.rate * self.decrease)
        self._size()

    def succeeded(self, latency: float | None = None) -> None:
        now = self.clock()
        self._accepted.append(now)
        self._since_cut += 1
        if self.adaptive and (n := self._window(now)) > (self.verified or 0):
            self.verified = n
        if latency is not None:
            self._observe(latency)
        if not self.adaptive:
            self._size()
            return
        if self.slow_start:
            if self._queueing():
                self._limit(float(self._window(now)))
            else:
                self.rate = min(self.ceiling, self.rate + _LN2 / self.slow_start_doubling)
        elif self.good is not None and self.rate < self.good:
            self.rate = min(self.good, self.rate + _LN2 / self.recover_doubling)
        elif self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + self.probe)
        self._size()

    # --- latency and concurrency ----------------------------------------------------------

    def _observe(self, latency: float) -> None:
        self._samples += 1
        self._latency_min = min(self._latency_min, latency)
        weight = 0.05 if self._samples > 20 else 1.0 / self._samples
        self._latency += weight * (latency - self._latency)

    def _queueing(self) -> bool:
        """The API answers far slower than it did when quiet: requests wait in its queue."""
        return self._samples >= 50 and self._latency > 2 * self._latency_min + 0.05

    def _limit(self, accepted: float) -> None:
        """The API accepts about ``accepted`` a second (told by a cut or by queueing): hold
        ``margin`` under it from now on."""
        self.slow_start = False
        self.limit_found = self.verified = accepted
        self.good = max(self.floor, min(self.ceiling, accepted * self.margin))
        self.rate = max(self.floor, min(self.rate, self.good))

    def _size(self) -> None:
        """In flight = rate × latency (Little's law) with headroom, within the bounds."""
        if not self.auto_concurrency:
            return
        lo, hi = self.concurrency_bounds
        latency = self._latency or 0.05
        wanted = math.ceil(self.rate * latency * self.headroom) + 2
        before = self.inflight_limit
        self.inflight_limit = max(lo, min(hi, wanted))
        if self.inflight_limit > before:
            self._wake()

    def _window(self, now: float) -> int:
        """Successes in the last second."""
        accepted = self._accepted
        while accepted and accepted[0] < now - 1.0:
            accepted.popleft()
        return len(accepted)
