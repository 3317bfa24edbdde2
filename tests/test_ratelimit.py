"""The pacer: evenly spaced requests that find the API's limit and keep to it. The clock is moved
by hand and the API is a model (a token bucket), so nothing here sleeps or races."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import heapq
import itertools
import math
import os
import random
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from importer.neighbours import AHEAD, SPACING, Heard, Neighbours, Told, neighbours_for
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


def pacer(rate: float, clock: Clock, **kw: float | bool | None) -> Pacer:
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


class Bucket:
    """A server's limit as a token bucket holding one second, as the sandbox's (and DRF's
    throttles, roughly): ``changes`` moves the limit at given seconds; ``windows`` refuses
    everything for ``windows[1]`` seconds every ``windows[0]`` (quota windows); a limit of
    None accepts everything."""

    def __init__(
        self,
        limit: float | None,
        *,
        changes: dict[float, float] | None = None,
        windows: tuple[float, float] | None = None,
        t0: float = 100.0,
    ) -> None:
        self.limit, self.tokens, self.last, self.t0 = limit, limit or 0.0, t0, t0
        self.changes, self.windows = dict(changes or {}), windows

    def __call__(self, now: float) -> bool:
        for at in [a for a in self.changes if now - self.t0 >= a]:
            self.limit = self.changes.pop(at)
            self.tokens = min(self.tokens, self.limit)
        if self.limit is None:
            return True  # no limit at all
        if self.windows and (now - self.t0) % self.windows[0] < self.windows[1]:
            return False
        self.tokens = min(self.limit, self.tokens + (now - self.last) * self.limit)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait(self, now: float) -> float:
        """The Retry-After the sandbox answers a refusal with: the rest of a quota window, or
        one second."""
        if self.windows and (into := (now - self.t0) % self.windows[0]) < self.windows[1]:
            return float(max(1, math.ceil(self.windows[1] - into)))
        return 1.0


class SlidingWindow:
    """A server's limit as Django REST framework's SimpleRateThrottle keeps it (the kelviq
    service is a DRF one, by its SDK): at most ``limit`` × ``period`` accepted in any ``period``
    seconds, counted from a log of the accepted requests' times; no burst is banked, unlike
    Bucket's. DRF's rates per minute are a period of 60 ("120/min": a limit of 2)."""

    def __init__(self, limit: float, *, period: float = 1.0) -> None:
        self.allowed, self.period, self.log = limit * period, period, collections.deque[float]()

    def __call__(self, now: float) -> bool:
        while self.log and self.log[0] <= now - self.period:
            self.log.popleft()
        if len(self.log) >= self.allowed:
            return False
        self.log.append(now)
        return True

    def wait(self, now: float) -> float:
        """DRF's Retry-After for a refusal: until the oldest request leaves the log, in whole
        seconds (one, for a limit counted per second)."""
        return float(max(1, math.ceil(self.period - (now - self.log[0])))) if self.log else 1.0


class FixedWindow:
    """A server's limit as the simplest ones keep it (a counter per calendar second, as with
    Redis INCR and EXPIRE): at most ``limit`` accepted in each whole second; no burst banked."""

    def __init__(self, limit: int) -> None:
        self.limit, self.second, self.count = limit, -1, 0

    def __call__(self, now: float) -> bool:
        if math.floor(now) != self.second:
            self.second, self.count = math.floor(now), 0
        if self.count >= self.limit:
            return False
        self.count += 1
        return True


class Gcra:
    """A server's limit as a GCRA that banks no burst (redis-cell's, nginx's ``limit_req``): a
    request is accepted when it comes no more than ``burst`` emission intervals (``1/limit``)
    ahead of the schedule of those accepted; at most ``burst + 1`` go through back to back."""

    def __init__(self, limit: float, *, burst: int = 2) -> None:
        self.interval, self.burst, self.theoretical = 1.0 / limit, burst, 0.0

    def __call__(self, now: float) -> bool:
        arrival = max(self.theoretical, now)
        if arrival - now > self.burst * self.interval + 1e-9:
            return False
        self.theoretical = arrival + self.interval
        return True


def accept(p: Pacer, clock: Clock, count: int, per_second: float) -> None:
    """``count`` answers, each accepted, ``1 / per_second`` apart on the hand clock."""
    for _ in range(count):
        clock.now += 1 / per_second
        p.succeeded(0.05)


def simulate(p: Pacer, clock: Clock, server: Bucket, seconds: float) -> list[tuple[float, bool]]:
    """Requests as fast as the pacer lets them go, each answered at once: (second, accepted)."""
    sent: list[tuple[float, bool]] = []

    async def go() -> None:
        while clock.now - 100.0 < seconds:
            await p.acquire()
            ok = server(clock.now)
            p.succeeded() if ok else p.throttled()
            sent.append((clock.now - 100.0, ok))

    asyncio.run(go())
    return sent


def per_second(sent: list[tuple[float, bool]], start: float, end: float, *, ok: bool | None = True) -> float:
    n = sum(1 for t, accepted in sent if start <= t < end and (ok is None or accepted == ok))
    return n / (end - start)


def test_quota_windows_cost_about_their_own_length() -> None:
    """--rate 50 against a 50/s limit that refuses everything for 1 s every 15 s: the rate
    is back at 50 within 2 s of each window's end (issue 19: a fixed rate is back at N)."""
    clock = Clock()
    p = pacer(50, clock)
    p.succeeded()  # the pre-flight got through, then the first window: one answer tells nothing
    sent = simulate(p, clock, Bucket(50, windows=(15, 1)), 60)
    assert per_second(sent, 0, 60) >= 0.9 * 50 * 14 / 15
    for window in (15, 30, 45):
        assert per_second(sent, window + 1.5, window + 2.5) >= 45  # back near 50/s at once


def test_auto_finds_an_unknown_limit_and_holds_near_it() -> None:
    clock = Clock()
    p = pacer(1000, clock, start=10)
    sent = simulate(p, clock, Bucket(100), 60)
    assert per_second(sent, 10, 60) >= 92
    refused = sum(1 for _, ok in sent if not ok)
    assert refused / len(sent) <= 0.02
    assert p.limit_found is not None and 85 <= p.limit_found <= 115


def test_a_rate_asked_for_far_above_the_limit_settles_at_the_limit() -> None:
    """--rate 1000 against 100/s: what the API accepted, not the rate asked for, sets the cut."""
    clock = Clock()
    p = pacer(1000, clock)
    sent = simulate(p, clock, Bucket(100), 40)
    assert per_second(sent, 5, 40) >= 92
    assert sum(1 for _, ok in sent if not ok) / len(sent) <= 0.03
    assert p.rate <= 130


def test_a_limit_that_drops_is_followed_within_seconds() -> None:
    clock = Clock()
    p = pacer(1000, clock, start=10)
    sent = simulate(p, clock, Bucket(100, changes={20: 30}), 60)
    assert per_second(sent, 23, 24, ok=None) <= 36  # everything sent, refused or not
    after = [ok for t, ok in sent if t >= 20]
    assert after.count(False) / len(after) <= 0.05
    assert p.rate <= 36


@pytest.mark.parametrize("runners", [1, 4, 8])
def test_a_limit_kept_as_a_sliding_window_that_drops_is_followed(runners: int) -> None:
    """DRF's window, from 100/s to 30/s: it refuses everything for most of a second while its
    log of the higher rate runs out, which reads as a quota window, and a window brought the
    former good rate back each time. One runner was refused a third of its requests (16 a
    second) for as long as it ran after the drop; four on one host, 41-47%. Now the rate
    follows what the API accepts.

    Eight on one host, each with under 4/s of the new limit, were refused 14-17% from 10 s
    after the drop on (six seeds): each one's answers were too few to tell a limit from a
    window, and the group's rate, growing 4/s a second between cuts a runner can make every
    1.5 s at that share, never came back under the limit (see Pacer._increase)."""

    class Dropping(SlidingWindow):
        def __call__(self, now: float) -> bool:
            if now - 100.0 >= 25:
                self.allowed = 30
            return super().__call__(now)

    after, later = [], []
    for seed in (1, 2, 3):  # one seed's share of refusals just after the drop is mostly luck
        sent: list[tuple[float, bool]] = []
        server = Dropping(100)

        def answer(now: float, server: Dropping = server, sent: list[tuple[float, bool]] = sent) -> bool:
            accepted = server(now)
            sent.append((now - 100.0, accepted))
            return accepted

        model(answer, runners=runners, rows=3000 // runners, same_host=True, seed=seed)
        after.append(
            [accepted for t, accepted in sent if t >= 25].count(False) / sum(t >= 25 for t, _ in sent)
        )
        later.append(
            [accepted for t, accepted in sent if t >= 35].count(False) / sum(t >= 35 for t, _ in sent)
        )
    assert statistics.mean(after) <= (0.15 if runners == 1 else 0.3)  # eight: 18-30% a seed now
    assert max(later) <= 0.05  # 32-41% before


def test_a_long_silence_does_not_send_the_rate_to_the_ceiling() -> None:
    """An input that stalls for a minute (a slow stdin, a long query of a database source):
    no answers, no signals. The increase doubles over a quiet spell, and the first success
    after the silence took the rate from 34/s to the ceiling, 1,000/s: the next requests went
    out as fast as the requests in flight allowed. Now it grows as slow start would at most."""
    clock = Clock()
    p = pacer(1000, clock, start=10)
    accept(p, clock, 100, 40)
    p.throttled(429)  # slow start ends
    accept(p, clock, 40, 20)
    before = p.rate
    clock.now += 60
    accept(p, clock, 20, 20)  # a second of answers after the silence
    assert p.rate <= 2.1 * before


@pytest.mark.parametrize("adaptive", [True, False])
def test_a_long_retry_after_is_tested_once_then_waited_out(adaptive: bool) -> None:
    """A 429 saying Retry-After: 30 (a quota window, or DRF's "120/min" used up). The first
    such pause is tested: a second into it one request goes, and it is refused too, so the
    pause lasts as long as the API said, and every later one from the start. At --rate auto as
    at a fixed rate; a request already waiting for its slot when the 429 came waits too."""
    clock = Clock()
    p = pacer(10, clock, tolerance=0, adaptive=adaptive)
    said: list[float] = [30.0]

    async def sleep(seconds: float) -> None:  # the 429 comes while a request waits for its slot
        if said:
            p.throttled(429, retry_after=said.pop(), latency=0.05)
        await clock.sleep(seconds)

    p.sleep = sleep

    async def go() -> None:
        await p.acquire()  # at 100.0
        await p.acquire()  # its slot was 100.1: it waits for the test, a second after the 429
        assert clock.now == pytest.approx(101.0)
        p.throttled(429, retry_after=29.0, latency=0.05)  # the test request is refused too
        await p.acquire()
        assert clock.now == pytest.approx(130.0)
        p.throttled(429, retry_after=20.0, latency=0.05)  # a later pause: as long as said
        await p.acquire()
        assert clock.now == pytest.approx(150.0)

    asyncio.run(go())
    assert p.pauses == 3 and p.retry_after_held is True


def test_a_long_retry_after_that_does_not_hold_pauses_nothing_from_then_on() -> None:
    """Some APIs answer every 429 with the same long Retry-After whatever their limit. The test
    request, a second into the first pause, is accepted although the API had said to wait a
    minute: its word did not hold, and its long Retry-After pauses nothing from then on."""
    clock = Clock()
    p = pacer(10, clock, tolerance=0, adaptive=False)

    async def go() -> None:
        await p.acquire()
        p.throttled(429, retry_after=60.0, latency=0.05)
        await p.acquire()  # the test, at 101.0
        clock.now += 0.05
        p.succeeded(0.05)
        p.throttled(429, retry_after=60.0, latency=0.05)
        before = clock.now
        await p.acquire()
        assert clock.now - before <= 0.1

    asyncio.run(go())
    assert p.pauses == 1 and p.retry_after_held is False


def test_an_api_whose_every_429_says_a_minute_costs_the_run_a_second_once() -> None:
    """A limit counted per second (a bucket of 100/s) whose every 429 says Retry-After: 60, as
    some gateways answer whatever their limit. Taken at its word, every cut would pause a
    minute. The request a second into the first pause is accepted, so the run goes on as if
    the API had said nothing, a second later."""

    class Lazy(Bucket):
        def wait(self, now: float) -> float:
            return 60.0

    pacers, finished, _, _ = model(Lazy(100), rows=6000)
    _, plain, _, _ = model(Bucket(100).__call__, rows=6000)  # no Retry-After at all
    assert pacers[0].pauses == 1 and pacers[0].retry_after_held is False
    assert finished[0] <= plain[0] + 1.5


def test_the_progress_line_says_how_long_a_pause_has_left() -> None:
    """A run waiting out a minute's quota sends nothing: the progress line says so and for how
    long, where it would otherwise look hung."""
    from importer.progress import LiveProgress
    from importer.timeline import Timeline

    clock = Clock()
    p = pacer(10, clock)
    timeline = Timeline(clock=clock)
    timeline.pacer = p
    p.throttled(429, retry_after=30.0, latency=0.05)
    clock.now += 1.2
    p.throttled(429, retry_after=29.0, latency=0.1)  # the test request is refused too
    live = LiveProgress(timeline, "in.csv")
    live._update()
    assert "paused 29 s more as the API's Retry-After asked" in live._status
    clock.now += 30
    live._update()
    assert "paused" not in live._status


def test_a_retry_after_of_a_second_or_a_503s_pauses_nothing() -> None:
    """A limit counted per second answers Retry-After: 1 (DRF's and the sandbox's round up
    to it), and a 503 is a fault whatever it says: neither holds the other requests."""
    clock = Clock()
    p = pacer(10, clock, tolerance=0, adaptive=False)
    p.throttled(429, retry_after=1.0)
    p.throttled(503, retry_after=30.0)

    async def go() -> None:
        for _ in range(3):
            await p.acquire()

    asyncio.run(go())
    assert clock.slept == pytest.approx([0.1, 0.1]) and p.pauses == 0


@pytest.mark.parametrize(("runners", "same_host"), [(1, True), (4, True), (4, False)])
def test_a_limit_counted_per_minute_is_waited_out_not_hammered(runners: int, same_host: bool) -> None:
    """DRF's "120/min" for each runner: its log over 60 s lets the minute's quota through at
    once, then refuses everything until the oldest request leaves it, and each 429 says when
    (Retry-After up to 60). Sent on at a falling rate, one runner had 44% of its requests
    answered 429, four 40-41%; paused as asked, 2-8% (six seeds). The quota is used in full
    either way: every minute's worth of rows lands in that minute (the first at once)."""
    limit = 2.0 * runners
    rows = 600 * runners  # five minutes' worth
    _, finished, sent, refused = model(
        SlidingWindow(limit, period=60), runners=runners, rows=rows // runners, same_host=same_host
    )
    assert refused / sent <= 0.1
    assert rows / max(finished) >= limit


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_quota_window_that_says_when_it_ends_is_waited_out(seed: int) -> None:
    """The sandbox's `--burst-429 10:2` with a limit of 40/s: nothing but 429 for 2 s of every
    10, each saying how long the window has left. One runner sent into each window at a
    falling rate: 13% of its requests refused, 89% of the 32/s the windows leave. Paused as
    asked, 1.2-1.3% and 97-101%."""
    _, finished, sent, refused = model(Bucket(40, windows=(10, 2)), rows=3000, seed=seed)
    assert refused / sent <= 0.03
    assert 3000 / finished[0] >= 0.95 * 32


class WindowCount:
    """A server whose answers inside a quota window are counted (``in_windows``)."""

    def __init__(self, server: Bucket) -> None:
        self.server, self.in_windows = server, 0

    def __call__(self, now: float) -> bool:
        accepted = self.server(now)
        windows = self.server.windows
        if not accepted and windows and (now - self.server.t0) % windows[0] < windows[1]:
            self.in_windows += 1
        return accepted

    def wait(self, now: float) -> float:
        return self.server.wait(now)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_runners_on_one_host_wait_out_a_quota_window_together(seed: int) -> None:
    """Eight runners on one host, the sandbox's `--burst-429 10:2` at 40/s. The runner the
    window refuses first tells the others of the pause (neighbours.py), and they send nothing
    into the window either: four requests refused a window (those already in flight) where each
    runner paid one of its own, nine a window (six seeds)."""
    server = WindowCount(Bucket(40, windows=(10, 2)))
    _, finished, _, _ = model(server, runners=8, rows=3000 // 8, seed=seed, same_host=True)
    windows = math.ceil(max(finished) / 10)
    assert server.in_windows / windows <= 5.5
    assert 3000 / max(finished) >= 32  # the quota left between windows is used in full


def test_slow_start_ends_where_the_api_starts_queueing() -> None:
    """No 429 at all, but answers slow down from 10 ms to 200 ms past 80 requests/s."""
    clock = Clock()
    p = pacer(1000, clock, start=10)

    async def go() -> None:
        while clock.now < 130:
            await p.acquire()
            p.succeeded(0.01 if p.rate < 80 else 0.2)

    asyncio.run(go())
    assert p.limit_found is not None and not p.slow_start
    assert p.rate <= 100


# --- several runners, noise and long windows: an event model on one hand-moved clock ----------


class Board:
    """neighbours.Neighbours on the hand clock: one signal that every runner of a model hears."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.stamp, self.said, self.until = clock, -1.0, Heard(), -1.0
        self.sending: set[BoardView] = set()
        self.rates: dict[BoardView, float] = {}  # as published (neighbours.PUBLISH: at once here)
        self.next = 0.0  # the one stream's next place

    def runner(self) -> BoardView:
        view = BoardView(self)
        self.sending.add(view)
        return view


class BoardView:
    def __init__(self, board: Board) -> None:
        self.board, self.seen = board, board.stamp

    def tell(self, rate: float, *, kind: Told = "cut", pause: float = 0.0) -> None:
        self.board.stamp = self.seen = self.board.clock.now
        self.board.said, self.board.until = Heard(rate, kind=kind), self.board.clock.now + pause
        if kind == "left":
            self.board.sending.discard(self)
            self.board.rates.pop(self, None)

    def present(self) -> int:
        return len(self.board.sending)

    def place(self, rate: float) -> float:
        board, now = self.board, self.board.clock.now
        board.rates[self] = rate
        if len(board.rates) < 2:
            return 0.0
        at = now if board.next > now + AHEAD else max(board.next, now)
        board.next = at + 1.0 / (SPACING * sum(board.rates.values()))
        return at - now

    def heard(self, now: float) -> Heard | None:
        if self.board.stamp > self.seen:
            self.seen = self.board.stamp
            return dataclasses.replace(self.board.said, pause=max(0.0, self.board.until - now))
        return None


def hear(p: Pacer, now: float) -> None:
    """What a neighbour told, acted on, as Pacer._listen does."""
    if p.neighbours is not None and (heard := p.neighbours.heard(now)) is not None:
        p._told(now, heard)


def model(
    server: Callable[[float], bool],
    *,
    runners: int = 1,
    same_host: bool = False,
    rows: int | list[int] = 1000,
    rate: float = 1000.0,
    start: float | None = 10.0,
    latency: float = 0.05,
    faults: float = 0.0,
    seed: int = 1,
    spread_starts: float = 0.0,
    refusal: int = 429,
) -> tuple[list[Pacer], list[float], int, int]:
    """Runners pacing requests at their pacer's rate against one server; each answer comes
    back after ``latency`` (±30%) and goes to its pacer; ``faults`` of the answers are a 500 or
    a 503 whatever the rate. The runners start together, or one after another over
    ``spread_starts`` seconds. A server with a ``wait(now)`` answers each 429 with that
    Retry-After; ``refusal`` is the status it refuses with (some APIs throttle with 503s).
    Returns the pacers, each runner's finishing second (counted from the first
    start), the requests sent and those the server refused."""
    clock = Clock()
    rng = random.Random(seed)
    starts = [100.0 + spread_starts * i / max(1, runners - 1) for i in range(runners)]
    pacers = []
    for at in starts:
        clock.now = at  # each pacer's clock starts with its runner
        pacers.append(Pacer(rate, start=start, clock=clock, sleep=clock.sleep))
    if same_host:  # the runners hear each other's cuts (neighbours.py)
        board = Board(clock)
        for p in pacers:
            p.neighbours = board.runner()  # type: ignore[assignment]
    left = list(rows) if isinstance(rows, list) else [rows] * runners
    finished = [0.0] * runners
    events = [(at, i, "send", i, 0) for i, at in enumerate(starts)]
    heapq.heapify(events)
    order, inflight, sent, refused = runners, [0] * runners, 0, 0
    waits: dict[int, tuple[float, float]] = {}  # answer event: its 429's Retry-After, when sent
    wait = getattr(server, "wait", None)
    while events:
        now, event, kind, i, status = heapq.heappop(events)
        clock.now = now
        p = pacers[i]
        if kind == "send":
            if left[i] == 0:
                continue
            hear(p, now)  # as acquire() does before each request
            if now < p._hold:  # as acquire() does: nothing is sent in a pause the API asked for
                order += 1
                heapq.heappush(events, (p._hold, order, "send", i, 0))
                continue
            order += 1
            heapq.heappush(events, (now + 1.0 / p.rate, order, "send", i, 0))
            if left[i] > inflight[i]:
                # As acquire() does next: the request waits for its place in the one stream of
                # the runners on this host (neighbours.py).
                place = p.neighbours.place(p.rate) if p.neighbours is not None else 0.0
                inflight[i] += 1
                order += 1
                heapq.heappush(events, (now + place, order, "place", i, 0))
            continue
        if kind == "place":
            hear(p, now)  # as acquire() does after the wait for a place
            if left[i] + 1 > inflight[i] and now >= p._hold:
                sent += 1
                # A fault is the backend's: the server's limit is not asked (no token taken).
                if rng.random() < faults:
                    status = rng.choice((500, 503))
                else:
                    status = 200 if server(now) else refusal
                    refused += status == refusal
                order += 1
                if status == 429 and wait is not None:
                    waits[order] = (wait(now), now)
                heapq.heappush(events, (now + latency * rng.uniform(0.7, 1.3), order, "answer", i, status))
            else:
                inflight[i] -= 1
            continue
        inflight[i] -= 1
        if status == 200:
            left[i] -= 1
            p.succeeded(latency)
            if left[i] == 0:
                finished[i] = now - 100.0
                p.leave()  # as the client does when the run ends
        elif status == 500:
            p.fault()
        elif event in waits:
            retry_after, sent_at = waits.pop(event)
            p.throttled(status, retry_after=retry_after, latency=now - sent_at)
        else:
            p.throttled(status)
    return pacers, finished, sent, refused


@pytest.mark.parametrize("seed", range(1, 11))
def test_scattered_server_errors_never_name_a_limit(seed: int) -> None:
    """Issue 19: one 503 in slow start once named a "limit" of 12/s for the whole run. 3% of
    answers 500/503, no limit at all, 150 ms: the rate climbs as if there were no faults."""
    pacers, finished, _, _ = model(Bucket(None), rows=3000, latency=0.15, faults=0.03, seed=seed)
    p = pacers[0]
    assert p.limit_found is None and p.cuts == 0 and p.faults > 0
    assert 3000 / finished[0] >= 150  # well past what 16 in flight at 150 ms would give


def test_503s_in_step_with_the_rate_are_a_rate_signal() -> None:
    clock = Clock()
    p = pacer(100, clock)
    for i in range(1000):  # ten seconds at 100/s, one answer in twenty a 503
        clock.now += 0.01
        if i % 20 == 0:
            p.throttled(503)
        else:
            p.succeeded()
    assert p.rate == 100 and p.cuts == 0 and p.faults == 50
    for _ in range(30):  # then the backend falls over: most answers are 503
        clock.now += 0.01
        p.throttled(503)
    assert p.cuts >= 1 and p.rate < 100


@pytest.mark.parametrize(
    ("server", "runners", "most"), [(Bucket, 1, 0.04), (FixedWindow, 1, 0.04), (FixedWindow, 8, 0.1)]
)
def test_an_api_that_throttles_with_503s_is_followed(
    server: Callable[[int], Callable[[float], bool]], runners: int, most: float
) -> None:
    """API behaviour relied on: some APIs and gateways answer their limit with 503 instead of
    429 (nginx's limit_req does by default). Such 503s are in step with the rate: they stop
    when it goes below the limit. Read as faults unless most answers were 503, a 100/s limit
    refused one runner 14.5-15.9% of its requests (a bucket) or 15.9-17.7% (a counter per
    second), and eight on one host 17.0-17.5% (the counter), for the whole run; now 2.8-3.5%
    and 7.9-9.9%."""
    for seed in (1, 2):
        pacers, finished, sent, refused = model(
            server(100), runners=runners, rows=6000 // runners, same_host=True, seed=seed, refusal=503
        )
        assert refused / sent <= most
        assert 6000 / max(finished) >= 85
        assert sum(p.throttled_answers for p in pacers) > 0 and all(p.limit_found for p in pacers)


def test_503s_that_go_on_at_a_lower_rate_are_faults_and_the_cut_is_undone() -> None:
    """API behaviour relied on: a backend that fails a share of requests whatever the rate
    (one bad instance of eight: 12% of answers 503). A cut on them is tried; the 503s go on at
    the lower rate, so they are faults: the rate goes back to where it was, and no limit is
    named. Before the cut was tried, such 503s were ignored; cut on as 429s are, the rate
    would have fallen cut after cut to where 503s are too few to count."""
    clock = Clock()
    p = pacer(100, clock)
    rng = random.Random(1)
    accept(p, clock, 200, per_second=100)  # two seconds without a 503
    rates, unavailable = [], 0
    for _ in range(3000):  # 30 s more, whatever the rate
        clock.now += 1 / p.rate
        if rng.random() < 0.12:
            unavailable += 1
            p.throttled(503, latency=0.05)
        else:
            p.succeeded(0.05)
        rates.append(p.rate)
    assert p.cuts >= 1 and min(rates) < 90  # the cut was tried
    assert p.rate == 100 and p.limit_found is None
    assert p.faults == unavailable and p.throttled_answers == 0  # what summary.json says


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("runners", [2, 4, 8])
def test_neighbours_on_one_host_share_one_limit_fairly_and_use_it_whole(runners: int, seed: int) -> None:
    """Issue 19: runners on one account and one host, one 100/s limit, started together, 6,000
    rows split between them: they hear each other's cuts, and together they hold the limit,
    finish together and are refused about as often as one runner. The bounds are what this
    model shows (bench/RESULTS.md has the real runs)."""
    _, finished, sent, refused = model(
        Bucket(100), runners=runners, rows=6000 // runners, seed=seed, same_host=True
    )
    assert 6000 / max(finished) >= 90  # from the first start to the last finish
    # Within the 1.25 with room (the real runs spread more than this model); slow
    # start used to end at half its rate, and two runners finished 1.22x apart.
    assert max(finished) / min(finished) <= 1.1
    # A single runner's share in this model is about 1%: within the 2% (slow start
    # ending at half its rate: up to 1.6%; at 0.85 of it: 2.5%).
    assert refused / sent <= 0.012


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("runners", [4, 8])
def test_a_runner_that_starts_late_catches_up_with_its_neighbours(runners: int, seed: int) -> None:
    """Runners on one host that do not start together (a loaded machine starts eight Python
    processes over a second or two): the last to start is told of the others' cuts while it is
    still at a fraction of their rate. Cut as well, it stayed there (2 s of starts: slowest /
    fastest 1.31-1.41); now it climbs to the rate the teller cut to instead."""
    _, finished, sent, refused = model(
        Bucket(100), runners=runners, rows=6000 // runners, seed=seed, same_host=True, spread_starts=2.0
    )
    took = [end - 2.0 * i / (runners - 1) for i, end in enumerate(finished)]  # each from its own start
    assert 6000 / max(finished) >= 90
    assert max(took) / min(took) <= 1.25
    # The 2%, with room; over 12 seeds this model's mean is 0.9% (at most 1.25%).
    assert refused / sent <= 0.015


@pytest.mark.parametrize("runners", [2, 4, 8])
def test_runners_on_different_hosts_converge_without_hearing_each_other(runners: int) -> None:
    """Runners that cannot hear each other (pods on several nodes) share the limit by AIMD
    alone, and each needs 429s of its own to learn that the account is full, so the refusals
    grow with the runners. Twelve seeds, because one run's spread is mostly luck: over 60
    seeds, four runners finish 1.21x apart on average, and from 1.0 to 1.5 from one seed to
    the next. The bounds are what this model shows (bench/RESULTS.md); a pacer that does not
    converge (multiplicative increase alone) spreads past 2."""
    runs = [model(Bucket(100), runners=runners, rows=6000 // runners, seed=seed) for seed in range(1, 13)]
    shares = [6000 / max(finished) for _, finished, _, _ in runs]
    spreads = [max(finished) / min(finished) for _, finished, _, _ in runs]
    refused = [refused / sent for _, _, sent, refused in runs]
    # The least of 60 seeds is 88% for four runners, with the pacer before the limit that holds
    # still and after it: one seed in twelve may fall below the 90%.
    assert min(shares) >= 86 and statistics.mean(shares) >= 94
    assert statistics.median(spreads) <= 1.35 and max(spreads) <= 1.7
    assert statistics.mean(refused) <= (0.015 if runners <= 4 else 0.035)


@pytest.mark.parametrize("runners", [1, 4, 8])
@pytest.mark.parametrize("server", [SlidingWindow, FixedWindow])
def test_a_limit_that_banks_no_burst_is_held_nearly_whole(
    server: Callable[[int], Callable[[float], bool]], runners: int
) -> None:
    """DRF's sliding window (the kelviq service is a DRF one, by its SDK) and a counter per
    second (the simplest fake API's) bank nothing while the rate is below them, unlike the
    sandbox's bucket: every second spent climbing back from a cut is lost. One runner held 86%
    of DRF's and 87.5% of the counter's over a 6,000-row job (70 s and 69 s where the sandbox
    takes 62 s); now 92-93%: slow start goes back up to the limit it saw, and the rate comes
    straight back near a limit that holds still. Runners on one host kept plain AIMD and held
    90.9-93.2% (95.0% for eight against the counter); now they come back near it as a group,
    their rates drawn together at each cut: 94-96%."""
    _, finished, sent, refused = model(server(100), runners=runners, rows=6000 // runners, same_host=True)
    assert 6000 / max(finished) >= (90 if runners == 1 else 93.5)
    assert max(finished) / min(finished) <= 1.1
    assert refused / sent <= 0.015


def test_requests_of_runners_on_one_host_due_together_go_out_a_place_apart() -> None:
    """Two runners at 50/s whose slots fall at the same moments: acquire() holds each request
    until its place in their one stream, 1/110 s after the other's, where both went out at once
    (the first pair: the first runner was alone when it took its slot)."""
    clock = Clock()
    board = Board(clock)
    one, other = pacer(50, clock, tolerance=0), pacer(50, clock, tolerance=0)
    one.neighbours, other.neighbours = board.runner(), board.runner()  # type: ignore[assignment]
    sent: list[float] = []

    async def go() -> None:
        for _ in range(5):
            for p in (one, other):
                await p.acquire()
                sent.append(clock.now)

    asyncio.run(go())
    assert [b - a for a, b in zip(sent[2::2], sent[3::2], strict=True)] == pytest.approx([1 / 110] * 4)
    assert [b - a for a, b in itertools.pairwise(sent[::2])] == pytest.approx([0.02] * 4)  # its own rate


@pytest.mark.parametrize("runners", [2, 4, 8])
def test_runners_on_one_host_send_as_one_stream_to_a_limit_that_lets_no_burst_through(runners: int) -> None:
    """A GCRA that lets three requests through back to back and no more (nginx's ``limit_req``
    with no burst is stricter still). Each runner spaced its own requests evenly, but their
    streams, with unrelated phases, reached it in clumps it refused: over six seeds four runners
    held 77-89% of it and eight 58-73% (real runs: 54-64%), where one runner holds 92%. Each
    request now takes its place in one stream of the host's runners (neighbours.py): 96%."""
    runs = [
        model(Gcra(100), runners=runners, rows=6000 // runners, same_host=True, seed=seed)
        for seed in (1, 2, 3)
    ]
    assert min(6000 / max(finished) for _, finished, _, _ in runs) >= 93
    assert max(max(finished) / min(finished) for _, finished, _, _ in runs) <= 1.05
    assert max(refused / sent for _, _, sent, refused in runs) <= 0.01


@pytest.mark.parametrize("server", [SlidingWindow, FixedWindow])
def test_two_runners_on_one_host_come_back_near_a_limit_that_banks_no_burst(
    server: Callable[[int], Callable[[float], bool]],
) -> None:
    """Two runners hear each other and compare the rates they cut from, each taken midway to
    the other's. Held to the 4% a count of 25 can be told apart by, those rates were 4.5-8%
    apart at one cut in two, so only one of the pair came back near the limit, and the other
    climbed back from 85% for seconds on end: 91.6-94.4% of DRF's window over eight seeds
    (92.0-94.0% of the counter), the least of any number of runners. Rates are no noisy
    counts: 8% apart is still one limit."""
    shares = []
    for seed in range(1, 9):
        _, finished, _, _ = model(server(100), runners=2, rows=3000, same_host=True, seed=seed)
        shares.append(6000 / max(finished))
    assert min(shares) >= 93 and statistics.mean(shares) >= 93.8


def test_slow_start_that_ends_below_a_limit_banking_no_burst_goes_back_up_to_it() -> None:
    """Slow start ends at 0.4 of its rate for a bucket's sake. If the API then accepts that
    rate for a second and more without a word, nothing was banked, and what it accepted in the
    second before the 429 was its limit: the rate goes back near it within a second, not in
    the ten a probe from there takes."""
    clock = Clock()
    p = pacer(1000, clock, start=100.0)
    accept(p, clock, 100, per_second=100)  # a second in which the API accepted 100
    p.throttled(429)
    assert p.rate <= 0.4 * 170  # slow start had reached 169/s
    accept(p, clock, int(2.2 * p.rate), per_second=p.rate)  # then 2.2 s accepted at that rate
    assert p.rate >= 0.85 * 100  # the former pacer: 70/s, and 85 only after ten seconds


def test_the_first_cut_after_such_a_slow_start_comes_straight_back_near_the_limit() -> None:
    """What slow start's exit showed to be the limit counts as the first of the two cuts that
    show a limit holding still: the next cut at about the same count comes straight back near
    it. The former pacer needed two more cuts, climbing back from 85% at 0.5/s after the first
    (seconds 13-21 of the whole job against DRF's throttle at 89-93/s)."""
    clock = Clock()
    p = pacer(1000, clock, start=100.0)
    accept(p, clock, 100, per_second=100)
    p.throttled(429)
    accept(p, clock, int(2.2 * p.rate), per_second=p.rate)  # silence: the limit banks nothing
    while p.rate < 99:  # the rate climbs back to the limit, and meets it
        accept(p, clock, 10, per_second=p.rate)
    accept(p, clock, 99, per_second=99)  # a second in which the API accepted 99
    p.throttled(429)
    accept(p, clock, 50, per_second=p.rate)  # half a second later
    assert p.rate >= 0.95 * 99


def test_slow_start_that_ends_where_a_bucket_still_refuses_stays_down() -> None:
    """The same exit against a bucket whose burst was spent: 429s go on, and the rate does not
    go back up to what the burst let through."""
    clock = Clock()
    p = pacer(1000, clock, start=140.0)
    accept(p, clock, 100, per_second=100)
    p.throttled(429)
    low = p.rate
    for _ in range(4):  # a 429 every half second: the exit's rate is still above the limit
        accept(p, clock, int(p.rate / 2), per_second=p.rate)
        p.throttled(429)
    assert p.rate <= low


def test_the_rate_comes_straight_back_near_a_limit_that_holds_still() -> None:
    """The API accepted 100 in the second before each of two cuts: its limit holds still, and
    after the second cut the rate is back at 95 within a second. With what it accepted moving
    (100, then 80: a neighbour, or a limit that drops), a cut is a plain 15% one."""
    clock = Clock()
    p = pacer(104, clock, start=None)
    for _ in range(2):
        accept(p, clock, 100, per_second=100)
        p.throttled(429)
        clock.now += 1.0  # the cuts a few seconds apart, each counted over a whole second
    accept(p, clock, 100, per_second=p.rate)
    assert p.rate >= 0.95 * 100

    clock = Clock()
    p = pacer(104, clock, start=None)
    for accepted in (100, 80):
        accept(p, clock, accepted, per_second=accepted)
        p.throttled(429)
        clock.now += 1.0
    after = p.rate
    accept(p, clock, 50, per_second=p.rate)
    assert p.rate <= after + 1


def test_slow_start_ends_below_half_its_rate() -> None:
    """Slow start doubles the rate each second and a one-second bucket hides the overshoot
    until its burst is spent: the first 429 comes at up to 2.75x the limit, and the cut must
    take the rate below it at once (deeper than TCP's halving), not in a string of 15% cuts
    each answered by more 429s."""
    clock = Clock()
    p = pacer(1000, clock, start=10.0)
    for _ in range(2000):  # about five seconds of answers, each accepted
        clock.now += 1 / p.rate
        p.succeeded(0.05)
    assert p.slow_start and p.rate > 200
    before = p.rate
    clock.now += 0.01
    p.throttled(429)
    assert not p.slow_start and p.rate <= 0.4 * before


def test_a_lone_runner_does_not_cut_to_a_rate_read_from_three_answers() -> None:
    """After a cut, three answers accepted in half a second say little about the limit: a
    runner alone cuts by its usual share, not to six a second. (Read as the limit, such a rate
    left one of four runners on different hosts at half the others' rate for the whole run.)"""
    clock = Clock()
    p = pacer(16, clock, start=None)
    accept(p, clock, 16, per_second=16)  # a second at 16/s, all accepted
    p.throttled(429)
    assert p.cuts == 1 and p.rate == pytest.approx(0.85 * 16)
    at_cut = p.rate
    accept(p, clock, 3, per_second=6)  # then only three answers accepted in half a second
    p.throttled(429)
    assert p.cuts == 2 and p.rate >= 0.8 * at_cut  # before: 0.85 x 6/s = 5.1


def test_a_lone_runner_still_cuts_to_what_a_dropped_limit_accepts() -> None:
    """Eight answers or more in the interval are enough for a runner alone: a limit that drops
    to a third is followed in one cut, not in a string of 15% cuts."""
    clock = Clock()
    p = pacer(90, clock, start=None)
    accept(p, clock, 90, per_second=90)
    p.throttled(429)
    accept(p, clock, 9, per_second=30)  # the limit is now 30/s: nine answers in 0.3 s
    p.throttled(429)
    assert p.rate <= 0.85 * 31


def test_a_cut_holds_at_once_for_requests_already_waiting_for_their_slot() -> None:
    """Forty requests took their slots at 100/s (a runner's whole concurrency, 0.4 s of them);
    the API then refuses. Those still waiting go out at the new rate, not at the old one:
    otherwise every cut held only after 0.4 s more of the rate that was refused."""

    async def go() -> list[float]:
        clock = Clock()
        wakes: list[tuple[float, int, asyncio.Future[None]]] = []

        async def sleep(seconds: float) -> None:
            future = asyncio.get_running_loop().create_future()
            heapq.heappush(wakes, (clock.now + seconds, len(wakes) + id(future) % 997, future))
            await future

        p = Pacer(100.0, clock=clock, sleep=sleep)
        sent: list[float] = []

        async def request() -> None:
            await p.acquire()
            sent.append(clock.now)

        tasks = [asyncio.create_task(request()) for _ in range(40)]
        await asyncio.sleep(0)  # each has its slot, 10 ms apart
        p.throttled(429)  # nothing was accepted yet: a window-cut to 75/s
        while wakes:
            clock.now, _, future = heapq.heappop(wakes)
            future.set_result(None)
            for _ in range(3):
                await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        return sent

    sent = sorted(asyncio.run(go()))
    assert len(sent) == 40
    # Slots already given in the past (the schedule's tolerance) go at once; from there on
    # the requests are 1/75 s apart, where the old schedule had them 10 ms apart to the end.
    later = [b - a for a, b in itertools.pairwise(sent[12:])]
    assert min(later) == pytest.approx(1 / 75), later


def test_a_runner_takes_up_what_a_neighbour_leaves_within_seconds() -> None:
    """Two runners share 100/s; one has far fewer rows and finishes. The other then reaches
    the whole limit within a few seconds (the former 1%-a-second probe took about a minute)."""
    _, finished, _, _ = model(Bucket(100), runners=2, rows=[900, 6000], seed=2)
    gone = finished[0]
    assert 15 <= gone <= 25
    whole = (6000 - 50 * gone) / 100  # seconds the rest takes at the whole limit, roughly
    assert finished[1] - gone <= whole + 6


def test_runners_on_one_host_take_up_at_once_what_a_finished_neighbour_leaves() -> None:
    """Four runners on one host, two with far fewer rows: when those finish (about 28 s in),
    they say so with their rate, and the other two share it between them at once. Waiting out
    a quiet spell to learn it, the four held 94.8-96.5% of the limit over the job; probing for
    it at once, 98.6-99.8%, with 1.4-1.8% of requests refused (the two overshot together);
    now 98.5-100.7% over eight seeds (100.1% on average), 0.5-1.2%."""
    runs = [
        model(Bucket(100), runners=4, rows=[700, 700, 2300, 2300], seed=seed, same_host=True)
        for seed in range(1, 9)
    ]
    assert max(max(finished[:2]) for _, finished, _, _ in runs) <= 30
    shares = [6000 / max(finished) for _, finished, _, _ in runs]
    assert min(shares) >= 98 and statistics.mean(shares) >= 99.5
    assert statistics.mean(refused / sent for _, _, sent, refused in runs) <= 0.01


def test_long_quota_windows_leave_their_share() -> None:
    """Issue 19: a 40/s limit refusing everything 2 s in every 10 (8 s on, 2 s off) leaves
    32/s: the run once got 15.8 rows/s."""
    _, finished, _, _ = model(Bucket(40, windows=(10, 2)), rows=3000)
    assert 3000 / finished[0] >= 0.85 * 30


def test_a_fixed_rate_with_faults_and_windows_holds_its_rate() -> None:
    """--rate 50, limit 50, 3% faults and a 1 s window every 15 s: at least 85% of 50 x 14/15."""
    _, finished, _, _ = model(Bucket(50, windows=(15, 1)), rows=3000, rate=50, start=None, faults=0.03)
    assert 3000 / finished[0] >= 0.85 * 50 * 14 / 15


def test_auto_concurrency_follows_littles_law_and_holds_requests_back() -> None:
    clock = Clock()
    p = pacer(150, clock, auto_concurrency=True, tolerance=10)
    assert p.inflight_limit == 4  # the lower bound before any latency is known
    for _ in range(200):
        p.succeeded(0.3)
    assert p.inflight_limit == math.ceil(150 * 0.3 * 1.5) + 2  # 70
    for _ in range(200):
        p.succeeded(5.0)
    assert p.inflight_limit == 128  # the upper bound

    async def go() -> list[int]:
        q = pacer(150, clock, auto_concurrency=True, tolerance=10)
        started: list[int] = []

        async def one(i: int) -> None:
            await q.acquire()
            started.append(i)

        tasks = [asyncio.create_task(one(i)) for i in range(6)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        first = list(started)
        q.release()  # one answer came back: one more may go
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        for t in tasks:
            t.cancel()
        return [len(first), len(started)]

    assert asyncio.run(go()) == [4, 5]


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


def test_eight_runners_on_one_host_are_refused_less_and_share_more_evenly() -> None:
    """What hearing each other changes, over the same seeds: eight runners on one host are
    refused far fewer requests than eight runners apart, and finish closer together."""

    def runs(same_host: bool) -> tuple[float, float]:
        sent = refused = 0
        spread = 1.0
        for seed in (1, 2, 3, 4, 5):
            _, finished, s, r = model(Bucket(100), runners=8, rows=750, seed=seed, same_host=same_host)
            sent, refused = sent + s, refused + r
            spread = max(spread, max(finished) / min(finished))
        return refused / sent, spread

    (apart, apart_spread), (together, together_spread) = runs(False), runs(True)
    assert together <= 0.7 * apart and together <= 0.02, (apart, together)
    assert together_spread <= 1.2 < apart_spread, (apart_spread, together_spread)


def test_a_neighbours_signal_reaches_the_other_runners_once(tmp_path: Path) -> None:
    """The file signal of neighbours.py between two runners of one host: a cut told by one is
    heard by the other, once; a runner does not hear its own."""
    one, other = Neighbours(tmp_path / "pace"), Neighbours(tmp_path / "pace")
    assert other.heard(0.0) is None
    one.tell(42.5)
    assert other.heard(1.0) == Heard(42.5) and other.heard(2.0) is None and one.heard(1.0) is None
    one.tell(40.0, kind="left")
    assert other.heard(3.0) == Heard(40.0, kind="left")
    (tmp_path / "pace").write_text("")  # as a runner of an earlier version leaves it: told, no rate
    assert other.heard(4.0) == Heard()
    (tmp_path / "pace").write_text("cut inf")  # nothing to climb to
    assert other.heard(5.0) == Heard()
    # Two signals within one tick of a kernel's coarse clock (the same modification time) are
    # two: each is a new file.
    one.tell(30.0)
    assert other.heard(6.0) == Heard(30.0)
    tick = (tmp_path / "pace").stat().st_mtime_ns
    one.tell(20.0)
    os.utime(tmp_path / "pace", ns=(tick, tick))
    assert other.heard(7.0) == Heard(20.0)


def test_a_pause_the_api_asked_for_is_told_with_when_it_ends(tmp_path: Path) -> None:
    """A pause is told as the seconds it has left when read (the epoch in the file, which every
    container on the host reads alike), with the cut it came with or on its own."""
    one, other = Neighbours(tmp_path / "pace"), Neighbours(tmp_path / "pace")
    one.tell(12.5, pause=30.0)
    heard = other.heard(1.0)
    assert heard is not None and heard.kind == "cut" and heard.rate == 12.5
    assert 29.0 < heard.pause <= 30.001  # (the file keeps milliseconds)
    one.tell(12.5, kind="pause", pause=5.0)
    heard = other.heard(2.0)
    assert heard is not None and heard.kind == "pause" and 4.0 < heard.pause <= 5.001
    (tmp_path / "pace").write_text(f"pause 12.500 until {time.time() - 10:.3f}")  # over already
    assert other.heard(3.0) == Heard(12.5, kind="pause")
    (tmp_path / "pace").write_text("pause x until y")  # not a runner's: nothing to act on
    assert other.heard(4.0) == Heard(kind="pause")


def test_a_pause_the_api_asked_for_holds_the_runners_that_hear_of_it(tmp_path: Path) -> None:
    """Two runners on one signal file (neighbours.py). The first 429 saying "come back in 5 s"
    pauses its runner a second to test the word, and that is nobody else's business; the next,
    refused too, shows the word holds: that pause is told, and the other runner sends nothing
    until it ends, trusting the word without a test of its own."""
    clock = Clock()
    one, other = pacer(100, clock), pacer(100, clock)
    one.neighbours, other.neighbours = Neighbours(tmp_path / "pace"), Neighbours(tmp_path / "pace")

    async def send(p: Pacer) -> float:
        before = clock.now
        await p.acquire()
        return clock.now - before

    one.throttled(429, retry_after=5.0, latency=0.05)  # the word, not yet tested
    assert asyncio.run(send(other)) < 0.1 and other.paused_for() == 0.0  # heard the cut only
    clock.now += 1.1
    one.throttled(429, retry_after=4.0, latency=0.05)  # the test request, refused: the word holds
    assert one.retry_after_held is True and one.paused_for() == pytest.approx(4.0)
    waited = asyncio.run(send(other))
    assert 3.9 < waited <= 4.01 and other.retry_after_held is True and other.pauses == other.pauses_told == 1
    assert one.pauses_told == 0


def test_runners_on_one_signal_count_those_still_sending(tmp_path: Path) -> None:
    """Each runner keeps a presence file next to the signal, touched as it sends and removed
    when it finishes, so that what a finished one leaves is shared among those still sending.
    A crashed runner's file stops counting once it goes untouched, and is cleared in time."""
    one, other, third = (Neighbours(tmp_path / "pace") for _ in range(3))
    assert one.present() == other.present() == 3
    third.tell(25.0, kind="left")
    assert one.present() == 2
    crashed = Neighbours(tmp_path / "pace")
    long_ago = time.time() - 60
    os.utime(crashed._here, (long_ago, long_ago))
    assert one.present() == 2 and crashed._here.exists()
    forgotten = time.time() - 2 * 3600
    os.utime(crashed._here, (forgotten, forgotten))
    assert one.present() == 2 and not crashed._here.exists()
    assert sorted(p.name for p in tmp_path.glob("pace.here-*")) == sorted([one._here.name, other._here.name])


def test_runners_on_one_signal_take_places_in_one_stream_spaced_for_their_rates(tmp_path: Path) -> None:
    """Each runner publishes its rate; each request of one that is not alone takes the next place
    in one schedule, 1/(1.1 x the rates' sum) after the last. A runner alone takes none (and pays
    no database write a request); one that finishes, or crashes, leaves the others alone again."""
    one, other = Neighbours(tmp_path / "pace"), Neighbours(tmp_path / "pace")
    assert one.place(50.0) == 0.0  # alone
    waits = [other.place(50.0) for _ in range(11)]  # now two: 100/s between them, spaced for 110/s
    assert waits[0] < 0.005 and 0.07 < waits[-1] <= 10 / 110  # ten places of 1/110 s each
    assert one.place(60.0) > 0.07  # a rate that moved is published at once; the same stream
    other.tell(50.0, kind="left")
    assert one.place(40.0) == 0.0  # alone again
    crashed = Neighbours(tmp_path / "pace")
    crashed.place(30.0)  # two again
    # A crashed runner publishes nothing more: its rate lapses once it is FRESH seconds old.
    with sqlite3.connect(tmp_path / "pace.stream") as db:
        db.execute("UPDATE rate SET at = at - 60 WHERE runner = ?", (crashed._here.name,))
    assert one.place(45.0) == 0.0
    # A place far ahead (a clock stepped back since it was given) is from now instead.
    with sqlite3.connect(tmp_path / "pace.stream") as db:
        db.execute("UPDATE place SET next = next + 3600")
    third = Neighbours(tmp_path / "pace")
    assert third.place(30.0) < 0.005
    # So fast together that places would be under a millisecond apart: none is taken.
    assert [third.place(1000.0) for _ in range(50)] == [0.0] * 50


def test_the_signal_is_named_by_a_digest_in_a_private_directory(tmp_path: Path) -> None:
    key = "sk_live_secret_value"
    found = neighbours_for("https://api.kelviq.com/api/v1", key, directory=tmp_path / "mine")
    assert found is not None and key not in str(found.path) and "secret" not in str(found.path)
    assert (tmp_path / "mine").stat().st_mode & 0o077 == 0
    (tmp_path / "open").mkdir(mode=0o777)
    (tmp_path / "open").chmod(0o777)
    assert neighbours_for("https://api.kelviq.com/api/v1", key, directory=tmp_path / "open") is None


def test_runners_with_their_own_temporary_directories_hear_each_other_through_a_pace_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Containers on one machine each have their own /tmp: alone, their runners cannot hear each
    other (eight of them were refused 2.9% of their requests, bench/RESULTS.md); a volume they
    share, named by $KELVIQ_IMPORT_PACE_DIR, carries the signal."""
    url, key = "https://api.kelviq.com/api/v1", "sk_live_x"

    def runner(tmp: str) -> Neighbours:
        monkeypatch.setattr("tempfile.tempdir", str(tmp_path / tmp))
        (tmp_path / tmp).mkdir(exist_ok=True)
        found = neighbours_for(url, key)
        assert found is not None
        return found

    one, other = runner("a"), runner("b")
    one.tell(30.0)
    assert other.heard(1.0) is None  # two temporary directories: two signals
    monkeypatch.setenv("KELVIQ_IMPORT_PACE_DIR", str(tmp_path / "volume" / "pace"))
    one, other = runner("a"), runner("b")
    one.tell(30.0)
    assert other.heard(1.0) == Heard(30.0) and one.path == other.path
    assert (tmp_path / "volume" / "pace").stat().st_mode & 0o077 == 0


def test_a_pace_dir_open_to_others_is_not_used_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("KELVIQ_IMPORT_PACE_DIR", str(shared))
    with caplog.at_level("WARNING", logger="kelviq_import"):
        assert neighbours_for("https://api.kelviq.com/api/v1", "sk_live_x") is None
    assert "KELVIQ_IMPORT_PACE_DIR" in caplog.text and "mode 0700" in caplog.text
    assert "sk_live_x" not in caplog.text
