"""The run second by second, and what another thread may read of it."""

from __future__ import annotations

from importer.timeline import Timeline


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_seconds_are_bucketed_and_downsampled() -> None:
    clock = Clock()
    t = Timeline(clock=clock)
    for second in range(10):
        clock.now = 100.0 + second
        t.row("created")
        t.response(0.05, 201)
        t.response(0.10, 429)
    series = t.series(points=5)
    assert series["t"] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert series["rows_per_s"] == [1.0] * 5 and series["requests_per_s"] == [2.0] * 5
    assert series["throttled"] == [2.0] * 5 and series["latency_ms"] == [75.0] * 5
    assert t.requests == 20 and t.done == 10


def test_the_counts_snapshot_is_a_copy() -> None:
    t = Timeline()
    t.row("created")
    snapshot = t.snapshot_counts()
    t.row("failed")  # a new key while the display holds its copy
    assert snapshot == {"created": 1} and t.snapshot_counts() == {"created": 1, "failed": 1}
