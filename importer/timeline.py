"""What happened over the run, second by second: rows finished, requests, latency, 429s, and
the rate the pacer aimed at.

Kept in fixed one-second buckets (a 10-hour run is 36,000 small tuples), downsampled for
the charts in report.html. Also where a progress display reads the live state from.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .ratelimit import Pacer

__all__ = ["Timeline"]


@dataclass
class _Second:
    rows: int = 0
    requests: int = 0
    latency_sum: float = 0.0
    latency_max: float = 0.0
    throttled: int = 0
    errors: int = 0
    target: float = 0.0  # the pacer's rate at the second's last answer (0: no pacing)


@dataclass
class Timeline:
    clock: Any = time.monotonic
    started: float = field(default=0.0)
    seconds: list[_Second] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    total: int = 0  # rows expected, when known
    requests: int = 0
    retries: int = 0
    last_retry: tuple[float, str, float] | None = None  # (when, reason, wait)
    throttled: int = 0  # answers 429 (or 503 under overload), retried
    answers: Counter[int | None] = field(default_factory=Counter)  # by HTTP status (None: none)
    pacer: Pacer | None = None  # set by the run: the rate aimed at, the limit found

    def __post_init__(self) -> None:
        self.started = self.clock()

    def _bucket(self) -> _Second:
        i = int(self.clock() - self.started)
        while len(self.seconds) <= i:
            self.seconds.append(_Second())
        return self.seconds[i]

    def row(self, status: str) -> None:
        self.counts[status] += 1
        self._bucket().rows += 1

    def response(self, seconds: float, status: int | None) -> None:
        self.requests += 1
        self.answers[status] += 1
        b = self._bucket()
        b.requests += 1
        b.latency_sum += seconds
        b.latency_max = max(b.latency_max, seconds)
        if self.pacer is not None:
            b.target = self.pacer.rate
        if status in (429, 503):
            b.throttled += 1
            self.throttled += 1
        elif status is None or status >= 500:
            b.errors += 1

    def answers_text(self) -> str:
        """``201 ×120, 429 ×40, no answer ×2``: every answer of the run by status."""
        parts = sorted(self.answers.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        return ", ".join(f"{'no answer' if k is None else k} ×{n}" for k, n in parts) or "none"

    def retry(self, reason: str, wait: float) -> None:
        self.retries += 1
        self.last_retry = (self.clock(), reason, wait)

    def backoff(self, within: float = 5.0) -> str | None:
        """The latest retry, if recent: what a progress line shows."""
        if self.last_retry is None or self.clock() - self.last_retry[0] > within:
            return None
        _, reason, wait = self.last_retry
        return f"retrying in {wait:.1f} s: {reason}"

    def rates(self) -> tuple[float | None, float | None, float]:
        """(rate aimed at now, the API's limit as found, requests/s over the last 5 s)."""
        pacer = self.pacer
        now = int(self.clock() - self.started)
        recent = self.seconds[max(0, now - 5) : now]  # whole seconds only
        achieved = sum(b.requests for b in recent) / len(recent) if recent else 0.0
        if pacer is None:
            return None, None, achieved
        return pacer.rate, pacer.limit_found, achieved

    @property
    def done(self) -> int:
        return sum(self.snapshot_counts().values())

    def snapshot_counts(self) -> dict[str, int]:
        """A copy of the counts by status, safe to take from another thread: ``dict.copy`` runs
        without releasing the GIL, where iterating the live Counter can meet a new key."""
        return dict.copy(self.counts)

    def series(self, points: int = 240) -> dict[str, list[float]]:
        """Per-interval rows/s, requests/s, mean and max latency (ms), 429/503 and errors;
        intervals of whole seconds so that at most ``points`` remain."""
        n = len(self.seconds)
        step = max(1, -(-n // points))
        out: dict[str, list[float]] = {
            k: []
            for k in (
                "t",
                "rows_per_s",
                "requests_per_s",
                "latency_ms",
                "latency_max_ms",
                "throttled",
                "errors",
                "target_per_s",
            )
        }
        for i in range(0, n, step):
            chunk = self.seconds[i : i + step]
            width = len(chunk)
            requests = sum(b.requests for b in chunk)
            out["t"].append(float(i))
            out["rows_per_s"].append(round(sum(b.rows for b in chunk) / width, 2))
            out["requests_per_s"].append(round(requests / width, 2))
            mean = sum(b.latency_sum for b in chunk) / requests if requests else 0.0
            out["latency_ms"].append(round(mean * 1000, 2))
            out["latency_max_ms"].append(round(max((b.latency_max for b in chunk), default=0.0) * 1000, 2))
            out["throttled"].append(float(sum(b.throttled for b in chunk)))
            out["errors"].append(float(sum(b.errors for b in chunk)))
            out["target_per_s"].append(round(sum(b.target for b in chunk) / width, 2))
        return out
