"""report.html: one self-contained page (no scripts, no network) a person can read or mail.

Counts by status, problems grouped by kind with example rows, and the run over time
(throughput, latency, 429/503 and errors) as inline SVG charts. Built from the same data as
summary.json, so the two never disagree.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .pace import pace_text
from .problems import render_examples
from .statuses import STATUS_COLOURS

__all__ = ["render"]

COLOURS = STATUS_COLOURS
_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1000px;
color:#1c2733;padding:0 1rem}h1{font-size:1.5rem;margin:0}h2{font-size:1.1rem;margin-top:2rem}
.meta{color:#56636f}.verdict{display:inline-block;padding:.2rem .6rem;border-radius:4px;color:#fff;
font-weight:600}table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .6rem;
border-bottom:1px solid #e3e7eb;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:flex;height:18px;border-radius:4px;overflow:hidden;margin:.5rem 0}.bar span{display:block}
.swatch{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.4rem}
svg{background:#fafbfc;border:1px solid #e3e7eb;border-radius:4px}.legend{font-size:.85rem;color:#56636f}
code{font-size:.9em}
"""


def render(summary: dict[str, Any], series: dict[str, list[float]]) -> str:
    counts: dict[str, int] = summary.get("counts", {})
    rows = int(summary.get("rows", 0))
    bad = counts.get("invalid", 0) + counts.get("failed", 0)
    if summary.get("aborted"):
        verdict, colour = f"aborted: {summary['aborted']}", COLOURS["failed"]
    elif bad:
        verdict, colour = f"{bad} rows to fix", COLOURS["invalid"]
    else:
        verdict, colour = "every row succeeded", COLOURS["created"]
    name = str(summary.get("input", "")).rsplit("/", 1)[-1]
    what = "validated (dry run)" if summary.get("dry_run") else f"into {summary.get('base_url')}"
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>kelviq-import: {escape(name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(name)}</h1>",
        f"<p class=meta>{rows:,} rows {escape(what)}, mode {escape(str(summary.get('mode', '')))}; "
        f"{escape(str(summary.get('started_at', '')))} to {escape(str(summary.get('finished_at', '')))} "
        f"(<span id=duration>{float(summary.get('duration_s', 0)):.1f}</span> s, "
        f"<span id=rate>{float(summary.get('rows_per_second', 0)):,.1f}</span> rows/s)</p>",
        f'<p><span class=verdict id=verdict style="background:{colour}">{escape(verdict)}</span></p>',
        _counts(counts, rows),
        _problems(summary.get("problems", [])),
        _charts(series, summary),
        _files(summary),
        "</body></html>",
    ]
    return "\n".join(parts)


def _counts(counts: dict[str, int], rows: int) -> str:
    bar = "".join(
        f'<span title="{escape(k)} {v}" style="width:{100 * v / rows:.3f}%;background:{COLOURS.get(k, "#999")}"></span>'
        for k, v in counts.items()
        if rows and v
    )
    lines = "".join(
        f'<tr data-status="{escape(k)}"><td><span class=swatch style="background:{COLOURS.get(k, "#999")}"></span>'
        f'{escape(k)}</td><td class="n count">{v}</td><td class=n>{100 * v / rows:.1f}%</td></tr>'
        for k, v in counts.items()
        if rows
    )
    total = f'<tr><th>rows</th><td class="n" id=total>{rows}</td><td></td></tr>'
    return f"<h2>Rows by status</h2><div class=bar>{bar}</div><table id=counts>{lines}{total}</table>"


def _problems(problems: list[dict[str, Any]]) -> str:
    if not problems:
        return "<h2>Problems</h2><p id=problems>None.</p>"
    body = "".join(
        f'<tr><td>{escape(str(p["kind"]))}</td><td class="n rows">{int(p["rows"])}</td>'
        f"<td>{escape(render_examples(p['examples'], int(p['rows'])))}</td></tr>"
        for p in problems
    )
    return (
        "<h2>Problems, by kind</h2><table id=problems><tr><th>kind</th><th class=n>rows</th>"
        f"<th>first rows and their values</th></tr>{body}</table>"
        "<p class=legend>Every such row is in <code>failed.csv</code> with its reason, ready to fix and run again.</p>"
    )


def _charts(series: dict[str, list[float]], summary: dict[str, Any]) -> str:
    t = series.get("t") or []
    if len(t) < 2 or summary.get("dry_run"):
        return "<h2>Over time</h2><p class=legend>Too short a run to chart.</p>"
    lines = [("rows/s", series["rows_per_s"], "#2e7d32"), ("requests/s", series["requests_per_s"], "#1565c0")]
    if any(series.get("target_per_s") or ()):
        # What the pacer aimed at beside what was achieved: where they part, the API held it back.
        lines.append(("rate aimed at", series["target_per_s"], "#90a4ae"))
    throughput = _svg(t, lines, "per second")
    pace = f"<p class=legend>{escape(pace_text(summary))}.</p>"
    latency = _svg(
        t,
        [
            ("mean latency", series["latency_ms"], "#6a1b9a"),
            ("max latency", series["latency_max_ms"], "#ce93d8"),
        ],
        "ms",
    )
    trouble = _svg(
        t,
        [("429/503", series["throttled"], "#ef6c00"), ("errors, timeouts", series["errors"], "#c62828")],
        "answers",
    )
    return f"<h2>Throughput</h2>{throughput}{pace}<h2>Latency</h2>{latency}<h2>Throttling and errors</h2>{trouble}"


def _svg(t: list[float], lines: list[tuple[str, list[float], str]], unit: str) -> str:
    width, height, pad = 960, 200, 40
    top = max((max(v) for _, v, _ in lines if v), default=0.0) or 1.0
    span = (t[-1] - t[0]) or 1.0

    def xy(x: float, y: float) -> str:
        return (
            f"{pad + (x - t[0]) / span * (width - pad - 10):.1f},{height - 20 - y / top * (height - 40):.1f}"
        )

    paths = "".join(
        f'<polyline fill=none stroke="{colour}" stroke-width=1.6 points="{" ".join(xy(x, y) for x, y in zip(t, values, strict=False))}">'
        f"<title>{escape(label)}</title></polyline>"
        for label, values, colour in lines
    )
    axis = (
        f'<text x=4 y=24 font-size=11 fill="#56636f">{top:,.0f}</text>'
        f'<text x=4 y={height - 20} font-size=11 fill="#56636f">0</text>'
        f'<text x={width - 60} y={height - 4} font-size=11 fill="#56636f">{span:,.0f} s</text>'
        f'<line x1={pad} y1={height - 20} x2={width - 10} y2={height - 20} stroke="#cfd6dc"/>'
    )
    legend = " ".join(
        f'<span class=swatch style="background:{colour}"></span>{escape(label)}' for label, _, colour in lines
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="100%" role=img aria-label="{escape(unit)}">{axis}{paths}</svg>'
        f"<p class=legend>{legend} ({escape(unit)})</p>"
    )


def _files(summary: dict[str, Any]) -> str:
    return (
        "<h2>Files</h2><ul><li><a href=results.csv>results.csv</a>: one line per input row</li>"
        "<li><a href=failed.csv>failed.csv</a>: the rows to fix, with an <code>error</code> column</li>"
        "<li><a href=summary.json>summary.json</a>: these figures, for scripts</li></ul>"
        f"<p class=legend>Input SHA-256 {escape(str(summary.get('input_sha256', '')))}; "
        f"journal {escape(str(summary.get('journal')))}.</p>"
    )
