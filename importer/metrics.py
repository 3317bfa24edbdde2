"""The run as metrics an alert can watch: a Prometheus text file for node_exporter's textfile
collector, rewritten (never appended) at the end of every run, aborted ones included.

prometheus_client writes it (a private registry and ``write_to_textfile``, which writes a
temporary file and renames it: the collector never reads half a file), and parses the previous
one for the time of the last success, which a failed run must carry over, not reset. Labels:
``job`` (``--job-name``, default the input's stem), so several nightly jobs share one directory.

A "success" is a run that tried every row (exit 0 or 1): rows to fix are their own alert
(``kelviq_import_rows{status="failed"}``), an aborted or refused run is not a success.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError

__all__ = ["RunMetrics", "write_metrics"]

PREFIX = "kelviq_import"


@dataclass(frozen=True, slots=True)
class RunMetrics:
    """What one run reports to monitoring (from its Summary, or from an error before it)."""

    job: str
    exit_code: int
    counts: dict[str, int]
    duration_s: float = 0.0
    requests: int = 0
    throttled: int = 0
    rate_limit_found: float | None = None
    absent: int | None = None  # customers of kelviq absent from the input (--absent), if counted
    finished_at: float = 0.0  # epoch seconds; 0: now


def write_metrics(path: Path, metrics: RunMetrics) -> None:
    """Write ``path`` afresh (atomically), carrying the last success over from the file there."""
    try:
        from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
    except ImportError:  # pragma: no cover - a dependency of the package
        raise OutputError("--metrics-file needs prometheus_client: pip install prometheus-client") from None
    now = metrics.finished_at or time.time()
    registry = CollectorRegistry()
    job = {"job": metrics.job}

    def gauge(name: str, doc: str, value: float, **labels: str) -> None:
        g = Gauge(f"{PREFIX}_{name}", doc, ["job", *labels], registry=registry)
        g.labels(**job, **labels).set(value)

    rows = Gauge(f"{PREFIX}_rows", "Rows of the last run, by status.", ["job", "status"], registry=registry)
    for status in ("created", "updated", "unchanged", "invalid", "failed", "skipped", "not_sent", "valid"):
        rows.labels(**job, status=status).set(metrics.counts.get(status, 0))
    gauge("requests", "Requests the last run sent, retries included.", metrics.requests)
    gauge("throttled", "Answers of the last run that were 429 (or 503 under overload).", metrics.throttled)
    gauge("duration_seconds", "How long the last run took.", metrics.duration_s)
    gauge(
        "exit_code",
        "The last run's exit code (0 fine, 1 rows to fix, 2 input, 3 aborted).",
        metrics.exit_code,
    )
    gauge("last_run_timestamp_seconds", "When the last run ended.", now)
    success = now if metrics.exit_code in (0, 1) else _previous_success(path, metrics.job)
    if success is not None:
        gauge(
            "last_success_timestamp_seconds",
            "When a run last tried every row (exit 0 or 1); compare with time() in an alert.",
            success,
        )
    if metrics.absent is not None:
        gauge("absent_customers", "Customers in scope that the input no longer holds.", metrics.absent)
    if metrics.rate_limit_found is not None:
        gauge(
            "rate_limit_found", "Requests per second the API was found to accept.", metrics.rate_limit_found
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), registry)
    except OSError as exc:
        raise OutputError(f"--metrics-file {path}: cannot be written ({exc.strerror or exc})") from None


def _previous_success(path: Path, job: str) -> float | None:
    """The last success the file at ``path`` records for ``job``, if it is there and readable."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = path.read_text(encoding="utf-8")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if (
                    sample.name == f"{PREFIX}_last_success_timestamp_seconds"
                    and sample.labels.get("job") == job
                ):
                    return float(sample.value)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return None
