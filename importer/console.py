"""All that a person reads of a run, validate, verify or runs: summary lines and listings.

One place that turns a Summary into text (the library never prints); the live progress
display is progress.py's.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .report import counts_text

if TYPE_CHECKING:
    from .report import Summary
    from .runs import PastRun
    from .validate import Validation
    from .verify import VerifySummary

__all__ = [
    "interactive",
    "print_summary",
    "print_summary_line",
    "print_validation",
    "print_verify",
    "run_line",
]


def print_summary_line(summary: Summary) -> None:
    """One line for cron mail and log collectors: what, how many, where the report is."""
    counts = counts_text(summary.counts)
    status = f"ABORTED ({summary.aborted}); " if summary.aborted else ""
    click.echo(
        f"kelviq-import: {Path(summary.input).name}: {status}{summary.rows} rows: {counts} "
        f"in {summary.duration_s:.1f} s; report {summary.report_dir}",
        err=summary.exit_code != 0,
    )


def interactive() -> bool:
    """Progress only for a person watching: stderr is a terminal and TERM is not dumb."""
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def print_summary(summary: Summary, *, counts: bool = True) -> None:
    name = Path(summary.input).name
    line = counts_text(summary.counts, sep=" · ")

    def err(text: str) -> None:
        click.echo(text, err=True)

    rate = f"{summary.rows_per_second:g} rows/s"
    if counts:
        if summary.dry_run:
            done = f"{summary.counts.get('valid', 0)} valid"
        else:
            # "Imported" counts what kelviq now holds as the file says, nothing else.
            imported = sum(summary.counts.get(k, 0) for k in ("created", "updated", "unchanged"))
            done = f"{imported} imported"
        err(f"{name}: {summary.rows} rows read, {done}, in {summary.duration_s:.1f} s ({rate})")
        err(f"  {line}")
    if summary.aborted:
        err(f"  ABORTED: {summary.aborted}")
    if summary.throttled or summary.rate_limit_found is not None or summary.faults:
        err(f"  pace: {summary.pace}")
    unused = summary.unused_columns
    if unused:
        shown = ", ".join(repr(c) for c in unused[:8]) + (
            f" and {len(unused) - 8} more" if len(unused) > 8 else ""
        )
        err(f"  not sent anywhere: {shown} (map them, or set [other_columns] to_metadata = true)")
    bad = summary.counts.get("invalid", 0) + summary.counts.get("failed", 0)
    report = Path(summary.report_dir)
    err(f"  report: {report / 'report.html'} (and results.csv, failed.csv, summary.json)")
    if summary.journal:
        err(f"  journal: {summary.journal}")
    if summary.baseline:
        err(f"  baseline: {summary.baseline}")
    if summary.absent is not None:
        tagged = (
            f"; tagged {summary.absent_tagged}, untagged {summary.absent_untagged}"
            if summary.absent_tagged or summary.absent_untagged
            else ""
        )
        listed = report / "absent.csv"
        err(f"  absent: {summary.absent} customers in scope are no longer in the input{tagged} ({listed})")
    if bad:
        err(f"  {bad} rows to fix in {report / 'failed.csv'}; fix them and run the same command on it")
    if not_sent := summary.counts.get("not_sent", 0):
        err(f"  {not_sent} rows not sent (not rows to fix): run the same command again to finish")


def print_validation(result: Validation, quiet: bool) -> None:
    summary = result.summary
    if quiet:
        print_summary_line(summary)
        return
    valid = summary.counts.get("valid", 0)
    if summary.sheet:
        where = f"sheet {summary.sheet!r}, header on row {summary.header_row}"
    elif summary.delimiter:
        where = f"{summary.encoding}, {summary.delimiter!r}-separated, header on row {summary.header_row}"
    else:
        where = summary.file_format
    others = "".join(f", {v} {k}" for k, v in summary.counts.items() if k != "valid")
    click.echo(f"{Path(summary.input).name}: {summary.rows} rows ({where}): {valid} valid{others}")
    if summary.notice:
        click.echo(f"note: {summary.notice}")
    click.echo(f"mapping: {result.describe}")
    if unused := summary.unused_columns:
        click.echo(
            f"not sent anywhere: {', '.join(repr(c) for c in unused)} "
            "(map them, or set [other_columns] to_metadata = true)"
        )
    if result.problems:
        from .problems import render_examples

        click.echo("problems (rows affected, first rows and their values):")
        examples = result.examples
        for kind, n in result.problems.items():
            click.echo(f"  {n:>7}  {kind}  [{render_examples(examples.get(kind, []), n)}]")
    if result.preview:
        click.echo(f"first {len(result.preview)} payloads:")
        for item in result.preview:
            click.echo(f"  row {item['row']}: {json.dumps(item['payload'], ensure_ascii=False)}")
    report = Path(summary.report_dir)
    click.echo(
        f"report: {report}/"
        + (f" ({report / 'failed.csv'} lists the rows to fix)" if result.problems else "")
    )


def print_verify(summary: VerifySummary, *, quiet: bool) -> None:
    names = " + ".join(Path(f).name for f in summary.files)
    verdict = "all in kelviq and the same" if summary.exit_code == 0 else "NOT all in kelviq as the files say"
    line = (
        f"{names}: {verdict}: {counts_text(summary.counts)} ({summary.customers_in_kelviq} customers "
        f"in kelviq); report {summary.report_dir}/verify.csv"
    )
    click.echo(line if quiet else f"verified {line}", err=summary.exit_code != 0)


def shown(text: str) -> str:
    """Text from a file, safe on a terminal: control characters (an OSC title sequence, a
    carriage return) written as escapes, never sent raw."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def run_line(run: PastRun) -> str:
    kind = "validate" if run.dry_run else "run"
    aborted = f"; ABORTED: {run.aborted}" if run.aborted else ""
    code = run.exit_code if run.exit_code is not None else "?"
    return shown(
        f"{run.started_at}  exit {code}  {kind} {Path(run.input).name}: {counts_text(run.counts)}{aborted}"
        f"  {run.directory}"
    )
