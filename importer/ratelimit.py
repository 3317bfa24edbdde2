"""Pacing requests: an evenly spaced rate that backs off when the API pushes back (AIMD).

aiolimiter, which this replaced, fixes its rate when it is built; adapting to a server's
real limit needs a rate that moves, so the pacer is a few lines of GCRA (a virtual schedule):
each request gets the next slot ``1/rate`` after the previous one. A small ``tolerance`` lets
the schedule catch up after the event loop woke a little late, without bursting.

Adaptation: a 429 or 503 cuts the rate (at most once per ``cooldown``, since one overload
answers many requests in flight at once) to what the API actually accepted over the last
second, and never less than a ``decrease`` cut: far above the API's limit, one cut lands near
it instead of halving for ten seconds while most requests bounce. Each success then adds
``increase`` requests/s, so a second of successes at rate r adds ``increase × r``: 3% a second,
up to the configured ceiling, probing gently.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Pacer"]


@dataclass
class Pacer:
    """Attributes: ``rate`` (now, requests/s), ``ceiling`` (the configured rate), ``cuts``."""

    ceiling: float
    adaptive: bool = True
    floor: float = 0.5
    decrease: float = 0.75  # the gentlest cut
    increase: float = 0.03  # share of the current rate gained per second of successes
    cooldown: float = 1.0
    unavailable_share: float = 0.1
    tolerance: float = 0.05
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rate: float = field(init=False)
    cuts: int = field(default=0, init=False)
    _next: float = field(default=0.0, init=False)
    _last_cut: float = field(default=float("-inf"), init=False)
    _accepted: deque[float] = field(default_factory=deque, init=False)  # success times, last 1 s
    _unavailable: deque[float] = field(default_factory=deque, init=False)  # 503 times, last 1 s

    def __post_init__(self) -> None:
        if self.ceiling <= 0:
            raise ValueError("rate must be positive")
        self.rate = self.ceiling
        self.floor = min(self.floor, self.ceiling)

    async def acquire(self) -> None:
        """Wait for this request's slot."""
        now = self.clock()
        slot = max(self._next, now - self.tolerance)
        self._next = slot + 1.0 / self.rate
        if slot - now > 1e-6:
            await self.sleep(slot - now)

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
        if now - self._last_cut < self.cooldown:
            return
        self._last_cut = now
        self.cuts += 1
        accepted = self._window(now)
        cut = self.rate * self.decrease
        self.rate = max(self.floor, min(cut, accepted) if accepted else cut)

    def succeeded(self) -> None:
        if not self.adaptive:
            return
        now = self.clock()
        self._accepted.append(now)
        self._window(now)
        if self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + self.increase)

    def _window(self, now: float) -> int:
        """Successes in the last second."""
        accepted = self._accepted
        while accepted and accepted[0] < now - 1.0:
            accepted.popleft()
        return len(accepted)
