"""Pacing requests: an evenly spaced rate that backs off when the API pushes back (AIMD).

aiolimiter, which this replaced, fixes its rate when it is built; adapting to a server's
real limit needs a rate that moves, so the pacer is a few lines of GCRA (a virtual schedule):
each request gets the next slot ``1/rate`` after the previous one. A small ``tolerance`` lets
the schedule catch up after the event loop woke a little late, without bursting.

Adaptation: a 429 or 503 cuts the rate by ``decrease`` (at most once per ``cooldown``, since
one overload answers many requests in flight at once); each success adds ``increase / rate``
requests per second, so the rate climbs by ``increase`` per second of successes, up to the
configured ceiling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Pacer"]


@dataclass
class Pacer:
    """Attributes: ``rate`` (now, requests/s), ``ceiling`` (the configured rate), ``cuts``."""

    ceiling: float
    adaptive: bool = True
    floor: float = 0.5
    decrease: float = 0.75
    increase: float = 0.0  # requests/s gained per second of successes; 0: 2% of the ceiling
    cooldown: float = 1.0
    tolerance: float = 0.05
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rate: float = field(init=False)
    cuts: int = field(default=0, init=False)
    _next: float = field(default=0.0, init=False)
    _last_cut: float = field(default=float("-inf"), init=False)

    def __post_init__(self) -> None:
        if self.ceiling <= 0:
            raise ValueError("rate must be positive")
        self.rate = self.ceiling
        self.floor = min(self.floor, self.ceiling)
        if not self.increase:
            self.increase = max(1.0, self.ceiling * 0.02)

    async def acquire(self) -> None:
        """Wait for this request's slot."""
        now = self.clock()
        slot = max(self._next, now - self.tolerance)
        self._next = slot + 1.0 / self.rate
        if slot - now > 1e-6:
            await self.sleep(slot - now)

    def throttled(self) -> None:
        """The API said 429/503: slow down (once per cooldown)."""
        if not self.adaptive:
            return
        now = self.clock()
        if now - self._last_cut < self.cooldown:
            return
        self._last_cut = now
        self.cuts += 1
        self.rate = max(self.floor, self.rate * self.decrease)

    def succeeded(self) -> None:
        if self.adaptive and self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + self.increase / self.rate)
