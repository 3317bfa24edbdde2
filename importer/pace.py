"""The pace of a run in one line: what the pacer aimed at, found and counted. Shown by the
console summary, the progress display and report.html alike, from a Summary or a summary.json."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["pace_text"]


def pace_text(summary: Mapping[str, Any]) -> str:
    """``98.3 requests/s on average; aiming at 95/s at the end; …``: from a Summary or from a
    summary.json, so that every place that shows the pace says the same."""
    parts = [f"{summary.get('requests_per_second', 0):g} requests/s on average"]
    if summary.get("rate_final") is not None:
        parts.append(f"aiming at {summary['rate_final']:g}/s at the end")
    if summary.get("rate_limit_found") is not None:
        parts.append(f"the API was found to accept about {summary['rate_limit_found']:g}/s")
    signals, cuts, windows = summary.get("rate_signals", 0), summary.get("cuts", 0), summary.get("windows", 0)
    told = summary.get("told", 0)
    if signals or cuts:
        window_note = f", {windows} of them quota windows" if windows else ""
        told_note = f", {told} told by other runners on this host" if told else ""
        parts.append(f"{signals} answers read as throttling ({cuts} cuts{window_note}{told_note})")
    if summary.get("retry_after_held") is False:
        parts.append("the API's long Retry-After did not hold (a request 1 s later was accepted): ignored")
    elif pauses := summary.get("pauses", 0):
        told_pauses = summary.get("pauses_told", 0)
        told_note = f" ({told_pauses} told by other runners on this host)" if told_pauses else ""
        parts.append(f"paused {pauses} times for as long as the API's Retry-After asked{told_note}")
    if faults := summary.get("faults", 0):
        parts.append(f"{faults} server errors read as faults (retried, the rate kept)")
    if (throttled := summary.get("throttled", 0)) and not signals:
        parts.append(f"{throttled} answers 429/503, each retried")
    return "; ".join(parts)
