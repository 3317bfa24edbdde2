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


def test_throttling_cuts_once_per_cooldown_to_what_the_api_accepted() -> None:
    clock = Clock()
    p = pacer(1000, clock)
    for _ in range(100):  # the API took 100 requests in the last second...
        clock.now += 0.002
        p.succeeded()
    for _ in range(20):  # ...then answered twenty in flight with 429 at once
        p.throttled()
    assert p.rate == pytest.approx(100, abs=1) and p.cuts == 1  # one cut, straight to ~100/s
    clock.now += 1.5
    p.throttled()  # no success in the last second: the gentle cut applies
    assert p.rate == pytest.approx(75, abs=1) and p.cuts == 2


def test_scattered_503s_are_a_flaky_backend_not_overload() -> None:
    clock = Clock()
    p = pacer(100, clock)
    for i in range(1000):  # ten seconds at 100/s, one answer in twenty a 503
        clock.now += 0.01
        if i % 20 == 0:
            p.throttled(503)
        else:
            p.succeeded()
    assert p.rate == 100 and p.cuts == 0
    for _ in range(30):  # then the backend falls over: most answers are 503
        clock.now += 0.01
        p.throttled(503)
    assert p.cuts == 1 and p.rate < 100


def test_successes_probe_upwards_by_three_percent_a_second_up_to_the_ceiling() -> None:
    clock = Clock()
    p = pacer(200, clock)
    p.rate = 100.0
    for _ in range(100):  # one second of successes at 100/s
        clock.now += 0.01
        p.succeeded()
    assert p.rate == pytest.approx(103)
    for _ in range(100_000):
        clock.now += 0.001
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
