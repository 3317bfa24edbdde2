"""The pacer: evenly spaced requests, and AIMD when the API pushes back. The clock is moved by
hand, so nothing here sleeps."""

from __future__ import annotations

import asyncio

import pytest

from importer.ratelimit import Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(rate: float, clock: Clock, **kw: float) -> Pacer:
    return Pacer(rate, clock=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


def test_requests_are_spaced_evenly_with_no_burst() -> None:
    clock = Clock()
    p = pacer(10, clock, tolerance=0)

    async def go() -> None:
        for _ in range(5):
            await p.acquire()

    asyncio.run(go())
    assert clock.slept == pytest.approx([0.1] * 4)  # the first is free, then one every 100 ms


def test_a_late_wakeup_is_made_up_within_the_tolerance_only() -> None:
    clock = Clock()
    p = pacer(100, clock, tolerance=0.05)

    async def go() -> None:
        await p.acquire()
        clock.now += 0.03  # the loop was busy for 30 ms: three slots are owed, and given now
        for _ in range(3):
            await p.acquire()
        assert clock.slept == []
        clock.now += 1.0  # idle for a second: the slot due now plus 50 ms worth come at once
        for _ in range(6):
            await p.acquire()
        assert clock.slept == []
        await p.acquire()
        assert clock.slept == [pytest.approx(0.01)]

    asyncio.run(go())


def test_throttling_cuts_the_rate_once_per_cooldown_and_success_restores_it() -> None:
    clock = Clock()
    p = pacer(200, clock)
    for _ in range(20):  # twenty 429s from one overload, in the same instant
        p.throttled()
    assert p.rate == pytest.approx(150) and p.cuts == 1
    clock.now += 1.0
    p.throttled()
    assert p.rate == pytest.approx(112.5) and p.cuts == 2
    # Each second of successes at rate r adds `increase` (2% of the ceiling: 4 req/s).
    for _ in range(113):
        p.succeeded()
    assert p.rate == pytest.approx(116.5, abs=0.1)
    for _ in range(100_000):
        p.succeeded()
    assert p.rate == 200  # never above what was asked


def test_the_rate_never_falls_below_the_floor_and_a_fixed_pacer_never_moves() -> None:
    clock = Clock()
    p = pacer(10, clock, floor=2)
    for _ in range(50):
        clock.now += 5
        p.throttled()
    assert p.rate == 2
    fixed = Pacer(10, adaptive=False, clock=clock)
    fixed.throttled()
    assert fixed.rate == 10
