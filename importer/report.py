"""The report directory: results.csv, failed.csv and summary.json, written as rows finish.

results.csv has one line per input row, in the order rows finished. failed.csv repeats the
original cells of every invalid or failed row, with an ``error`` column, so that it can be
fixed and fed back as it is. Nothing here ever sees the API key.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import ExitCode, OutputError, UsageError
from .pace import pace_text
from .problems import Problem, ProblemTally
from .readers import REPORT_COLUMNS
from .statuses import Status

__all__ = [
    "RESULT_COLUMNS",
    "Reporter",
    "RowResult",
    "Summary",
    "counts_text",
    "default_report_dir",
    "file_sha256",
    "open_output",
    "refuse_unsafe_output",
    "safe_cell",
]

RESULT_COLUMNS = ("row", "customerId", "status", "http_status", "kelviq_id", "attempts", "error")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class RowResult:
    row: int
    customer_id: str
    status: Status
    http_status: int | None = None
    kelviq_id: str | None = None
    attempts: int = 0
    error: str | None = None
    cells: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()  # what made it invalid or skipped, as values


@dataclass(frozen=True)
class Summary:
    """The outcome of a run, as summary.json holds it (every field, flat)."""

    input: str
    input_sha256: str
    base_url: str | None
    dry_run: bool
    counts: dict[str, int]
    rows: int
    started_at: str
    finished_at: str
    duration_s: float
    rows_per_second: float
    report_dir: str
    aborted: str | None = None
    signal: int | None = None
    mapping: str | None = None
    mode: str = "upsert"
    journal: str | None = None
    requests: int = 0
    retries: int = 0
    throttled: int = 0  # answers 429 (or 503 under overload), each retried
    requests_per_second: float = 0.0  # over the whole run
    rate_final: float | None = None  # the rate the pacer aimed at in the end (None: no pacing)
    rate_limit_found: float | None = None  # what the API was found to accept, when it pushed back
    rate_signals: int = 0  # answers the pacer read as throttling (429, 503s in step, queueing)
    faults: int = 0  # server errors the pacer read as faults: retried, the rate kept
    cuts: int = 0  # times the pacer lowered the rate
    windows: int = 0  # of those, cuts read as quota windows (the rate to come back to kept)
    told: int = 0  # of those, cuts another runner on this host told of (neighbours.py)
    pauses: int = 0  # times the API's Retry-After (2 s or more) paused every request
    pauses_told: int = 0  # of those, pauses another runner on this host told of (neighbours.py)
    retry_after_held: bool | None = None  # whether that Retry-After held when tested (None: none came)
    file_format: str = "CSV"  # CSV, workbook, JSON Lines, JSON array, Parquet
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header_row: int = 1
    on_duplicate: str = "error"
    problems: list[dict[str, Any]] = field(default_factory=list)  # ProblemTally.as_json()
    unused_columns: tuple[str, ...] = ()
    limit: int | None = None
    baseline: str | None = None  # what the rows were compared with besides the journal
    notice: str | None = None  # the input was read otherwise than asked (an encoding), and why
    shard: str | None = None  # K/N: this run's share of the input's rows (--shard)
    absent: int | None = None  # customers in scope absent from the input (--absent); None: not checked
    absent_tagged: int = 0  # of those, tagged in this run
    absent_untagged: int = 0  # customers back in the input whose tag this run removed

    @property
    def exit_code(self) -> int:
        if self.signal is not None:
            return 128 + self.signal
        if self.aborted:
            return int(ExitCode.ABORTED)
        bad = self.counts.get("invalid", 0) + self.counts.get("failed", 0)
        return int(ExitCode.ROWS_TO_FIX if bad else ExitCode.OK)

    @property
    def pace(self) -> str:
        """What the pacer did and believed, in one line (console, progress, report.html)."""
        return pace_text(asdict(self))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["unused_columns"] = list(self.unused_columns)
        data["exit_code"] = self.exit_code
        return data


def counts_text(counts: dict[str, int], sep: str = ", ") -> str:
    """``created 293, invalid 7``: rows by status, as every summary line shows them."""
    return sep.join(f"{k} {v}" for k, v in counts.items()) or "no rows"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def safe_cell(text: str) -> str:
    """Server- or tool-made text for a spreadsheet: never let it start a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def refuse_unsafe_output(path: Path, *, protected: tuple[Path, ...] = ()) -> None:
    """Raise unless ``path`` may be written: never through a symlink planted in the report
    directory and never onto one of the run's own inputs (a failed.csv fed back from its own
    report directory would be truncated before it was read). Opens nothing."""
    for source in protected:
        try:
            if path.exists() and path.samefile(source):
                raise UsageError(
                    f"the report would overwrite {source}, an input of this run; "
                    "choose another --report-dir (or copy the file elsewhere first)"
                )
        except OSError:
            continue
    if path.is_symlink():
        raise OutputError(
            f"cannot write the report {path}: it is a symbolic link; refusing to write through it"
        )


def open_output(
    path: Path, *, protected: tuple[Path, ...] = (), encoding: str = "utf-8", errors: str = "strict"
) -> IO[str]:
    """Open a report file for writing after ``refuse_unsafe_output``; ``O_NOFOLLOW`` closes
    the gap between the check and the open."""
    refuse_unsafe_output(path, protected=protected)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise OutputError(f"cannot write the report {path}: {exc.strerror or exc}") from None
    return os.fdopen(fd, "w", newline="", encoding=encoding, errors=errors)


REPORT_ROOT = Path("kelviq-import-reports")


def default_report_dir(root: Path | None = None) -> Path:
    """A new directory for this run's report under ``root`` (default ./kelviq-import-reports):
    its UTC start time, with -2, -3 … when runs start in the same second; claimed by creating
    it, so two runs never share one."""
    root = root or Path.cwd() / REPORT_ROOT
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        root.mkdir(parents=True, exist_ok=True)
        n = 1
        while True:
            candidate = root / (stamp if n == 1 else f"{stamp}-{n}")
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                n += 1
    except OSError as exc:  # a file where the root should be, no permission, a missing drive
        raise UsageError(f"--report-root {root}: cannot hold reports ({exc.strerror or exc})") from None


class Reporter:
    """Writes one result per row as it arrives; ``close`` writes summary.json."""

    def __init__(
        self,
        directory: Path,
        columns: tuple[str, ...],
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        protected: tuple[Path, ...] = (),
    ) -> None:
        """``encoding``/``delimiter``: the input's, so failed.csv can be fed back exactly as the
        input was (a cp1252, semicolon-separated export stays one). ``protected``: the run's
        inputs (file, mapping, journal), which no report file may overwrite."""
        self.directory = directory
        self.protected = protected
        self.counts: Counter[str] = Counter()
        self.problems = ProblemTally()
        self.broken: OutputError | None = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write the report in {directory}: {exc.strerror or exc}") from None
        for name in ("results.csv", "failed.csv", "summary.json", "report.html"):
            # All four checked before any is opened: a planted report.html must stop the run
            # now, not after every row was sent.
            refuse_unsafe_output(directory / name, protected=protected)
        self._results_fh: IO[str] = open_output(directory / "results.csv", protected=protected)
        # errors="replace" can only touch the error column: the user's own cells came from
        # this very encoding.
        self._failed_fh: IO[str] = open_output(
            directory / "failed.csv", protected=protected, encoding=encoding or "utf-8", errors="replace"
        )
        self._results = csv.writer(self._results_fh)
        self._failed = csv.writer(self._failed_fh, delimiter=delimiter or ",")
        self._width = len(columns)
        # The input's own columns exactly (a fed-back failed.csv's report columns are dropped,
        # not stacked), then the original line and the reason, which no mapping ever sends.
        self._keep = [i for i, c in enumerate(columns) if c not in REPORT_COLUMNS]
        try:
            self._results.writerow(RESULT_COLUMNS)
            self._failed.writerow((*(columns[i] for i in self._keep), *REPORT_COLUMNS))
        except OSError as exc:
            self.broken = self._error(exc)
            self._close_quietly()
            raise self.broken from None

    def write(self, result: RowResult) -> None:
        """Write one row's result; a failed write (disk full) raises OutputError."""
        if self.broken is not None:
            raise self.broken
        try:
            self._write(result)
        except OSError as exc:
            self.broken = self._error(exc)
            raise self.broken from None

    def _error(self, exc: OSError) -> OutputError:
        # A buffered write does not say which file; the results file is written most.
        where = self.directory / (Path(exc.filename).name if exc.filename else "results.csv")
        return OutputError(
            f"cannot write the report {where}: {exc.strerror or exc}; rows already sent are in "
            "the journal, so running the same command again once there is room resumes safely"
        )

    def _write(self, result: RowResult) -> None:
        self.counts[result.status] += 1
        if result.status in ("invalid", "failed", "skipped"):
            # An API's refusal is its own words, one kind per distinct message.
            for problem in result.problems or ((Problem(kind=result.error),) if result.error else ()):
                self.problems.add(result.row, problem)
        error = safe_cell(result.error) if result.error else ""
        self._results.writerow(
            (
                result.row,
                result.customer_id,
                result.status,
                result.http_status if result.http_status is not None else "",
                safe_cell(result.kelviq_id or ""),
                result.attempts,
                error,
            )
        )
        if result.status in ("invalid", "failed"):
            cells = result.cells + ("",) * (self._width - len(result.cells))
            self._failed.writerow((*(cells[i] for i in self._keep), result.row, error))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def problems_json(self) -> list[dict[str, Any]]:
        return self.problems.as_json()

    def close(self, summary: Summary, series: dict[str, list[float]] | None = None) -> None:
        """Flush and close; writes summary.json and report.html. After a failed write,
        closes quietly."""
        try:
            self._results_fh.close()
            self._failed_fh.close()
            data = summary.to_json()
            with open_output(self.directory / "summary.json", protected=self.protected) as fh:
                fh.write(json.dumps(data, indent=2) + "\n")
            from .report_html import render

            html = render(data, series or {})
            with open_output(self.directory / "report.html", protected=self.protected) as fh:
                fh.write(html)
        except OSError as exc:
            if self.broken is None:
                self.broken = self._error(exc)
                raise self.broken from None
            self._close_quietly()

    def _close_quietly(self) -> None:
        for fh in (self._results_fh, self._failed_fh):
            with contextlib.suppress(OSError):
                fh.close()
