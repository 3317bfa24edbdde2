"""The ``kelviq-import`` command: options in, a config to the library, errors out as exit codes.
What a person reads is console.py's.

Heavy imports (httpx, calamine, email-validator) happen inside the commands so ``--help`` stays instant.
"""

from __future__ import annotations

import atexit
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .config import (
    ABSENT_KEY,
    ABSENT_MODES,
    ABSENT_SCOPES,
    BASELINES,
    EMPTY_CHOICES,
    MODES,
    ON_CONFLICT,
    ON_DUPLICATE,
    SANDBOX_URL,
    STALL_MINUTES,
)
from .console import (
    interactive,
    print_summary,
    print_summary_line,
    print_validation,
    print_verify,
    run_line,
    shown,
)
from .errors import ExitCode, ImporterError, UsageError
from .readers import FORMATS, sniff_format
from .sandbox.app import DUPLICATE_STYLES, THROTTLE_STATUSES, THROTTLE_STYLES, UNKNOWN_STYLES
from .sandbox.app import ROUTES as SANDBOX_ROUTES

if TYPE_CHECKING:
    from .config import (
        AbsentMode,
        AbsentScope,
        Auto,
        Baseline,
        Empty,
        ImportConfig,
        Mode,
        OnConflict,
        OnDuplicate,
        Rate,
    )
    from .database import DatabaseSource
    from .report import Summary
    from .validate import Validation
    from .verify import VerifySummary

F = TypeVar("F", bound=Callable[..., Any])


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="kelviq-import")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Bulk-import customers from CSV or Excel into kelviq, with a result for every row.

    \b
    Example (a migration, rehearsed on the bundled local sandbox):
      kelviq-import init-mapping legacy.csv > mapping.toml
      kelviq-import validate legacy.csv --mapping mapping.toml --preview 3
      kelviq-import sandbox &
      KELVIQ_API_KEY=sandbox-demo-key kelviq-import run legacy.csv --mapping mapping.toml \\
          --base-url http://127.0.0.1:8765/api/v1

    Every command has its own --help with examples; exit codes: 0 all rows fine, 1 some rows
    invalid or failed, 2 usage or input error (nothing sent), 3 run aborted.
    """
    # SIGTERM outside a run (while stdin is spooled, a file is read) ends the command as an
    # exit does, so that atexit removes the spool; a run installs its own graceful handler.
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)
        ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(fn: F) -> F:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply


# How to read the file: shared by every command that reads one, init-mapping included.
STDIN_LIMIT = "10G"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _size(text: str) -> int:
    """``500M``, ``20G``, ``1048576``: bytes."""
    value = text.strip().upper().removesuffix("B")
    unit = value[-1:] if value[-1:] in _UNITS else ""
    try:
        number = float(value.removesuffix(unit)) if unit else float(value)
    except ValueError:
        raise UsageError(f"--max-stdin-size {text!r}: a size such as 500M or 20G") from None
    if not number > 0:
        raise UsageError(f"--max-stdin-size {text!r}: must be more than 0")
    return int(number * _UNITS[unit])


_table_options = _options(
    # A path, `-` for stdin, or a database URL (`sqlite:///legacy.db`, `postgresql://…`; `db`:
    # the URL from --db-url-file, the mapping's [input] or $KELVIQ_IMPORT_DB_URL) with --table
    # or --query (or the mapping's).
    click.argument("input_path", metavar="INPUT"),
    click.option("--table", help="With a database URL as INPUT: the table to read (schema.name too)."),
    click.option("--query", help="With a database URL as INPUT: the SQL whose result to read."),
    click.option(
        "--query-file", type=click.Path(path_type=Path), help="With a database URL as INPUT: a file of SQL."
    ),
    click.option(
        "--db-url-file",
        type=click.Path(path_type=Path),
        help="With `db` as INPUT: a file whose first line is the database URL (a mounted secret).",
    ),
    click.option("--sheet", help="Worksheet to read from an Excel workbook [default: the first]."),
    click.option(
        "--format",
        "file_format",
        type=click.Choice(FORMATS),
        help="What INPUT is when its name does not say: for `-` (stdin, default csv) or a file "
        "without a suffix.",
    ),
    click.option("--encoding", help="Encoding of a CSV file [default: UTF-8, or as its BOM says]."),
    click.option("--delimiter", help="CSV delimiter [default: sniffed from the file]."),
    click.option(
        "--header-row",
        type=click.IntRange(min=1),
        help="Line (CSV) or row (Excel) holding the header, when titles or notes sit above it.",
    ),
    click.option(
        "--max-stdin-size",
        default=STDIN_LIMIT,
        show_default=True,
        metavar="SIZE",
        help="The most a pipe or stdin may hold (it is copied to a temporary file first): 500M, 20G.",
    ),
)


_input_options = _options(
    _table_options,
    click.option(
        "--mapping",
        type=click.Path(path_type=Path),
        help="TOML mapping file (see sample_data/mapping.example.toml).",
    ),
    click.option(
        "--on-duplicate",
        type=click.Choice(ON_DUPLICATE),
        default="error",
        show_default=True,
        help="A customerId on several rows: error reports every such row; first/last imports one.",
    ),
    click.option(
        "--allow-empty", is_flag=True, help="A file with a header and no rows is fine (else exit 2)."
    ),
    click.option(
        "--shard",
        metavar="K/N",
        help="Take share K of N (0-based) of the rows, by customerId hash: N runners with 0/N … "
        "N-1/N cover every row exactly once (a Kubernetes Indexed Job, Airflow's .expand).",
    ),
    click.option(
        "--report-dir",
        type=click.Path(path_type=Path),
        help="Write the report into exactly this directory (replacing an earlier report there).",
    ),
    click.option(
        "--report-root",
        type=click.Path(path_type=Path),
        envvar="KELVIQ_IMPORT_REPORTS",
        help="Each run's report in a new <UTC time>/ directory under this one, never replaced "
        "[env KELVIQ_IMPORT_REPORTS; default ./kelviq-import-reports]; `kelviq-import runs` lists them.",
    ),
    click.option("-q", "--quiet", is_flag=True, help="For cron: one summary line; errors on stderr."),
    click.option("-v", "--verbose", count=True, help="-v: run start/end and retries; -vv: every row."),
    click.option(
        "--log-file",
        type=click.Path(path_type=Path),
        help="Also log to this file (INFO and up; every row with -vv).",
    ),
    click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="json: one object per event, for log collectors.",
    ),
)


def _setup_logging(
    verbose: int,
    log_file: Path | None,
    log_format: str,
    *,
    quiet: bool,
    inputs: tuple[Path | str | None, ...],
) -> None:
    from .logs import configure

    if log_file is not None:
        for source in inputs:
            if source is not None and _same_file(log_file, Path(source)):
                raise UsageError(
                    f"--log-file {log_file} is an input of this command ({source}); log elsewhere"
                )
    try:
        configure(verbose, log_file, log_format, quiet=quiet)
    except OSError as exc:
        raise UsageError(f"--log-file {log_file}: cannot be written ({exc.strerror or exc})") from None


if TYPE_CHECKING:
    _ParamBase = click.ParamType[Any]  # generic in click's stubs since 8.2, not at run time before
else:
    _ParamBase = click.ParamType


class _OrAuto(_ParamBase):
    """``auto``, or what the inner type takes (a number)."""

    def __init__(self, inner: click.ParamType[Any]) -> None:
        self.inner = inner
        self.name = f"auto|{inner.name}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        return self.inner.convert(value, param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "auto|N"


_api_options = _options(
    click.option(
        "--base-url", envvar="KELVIQ_BASE_URL", help="API base URL [env KELVIQ_BASE_URL; default production]."
    ),
    click.option(
        "--hosted-sandbox",
        "use_sandbox",
        is_flag=True,
        help=f"kelviq's own hosted sandbox API ({SANDBOX_URL}); not the local `kelviq-import sandbox`.",
    ),
    click.option("--sandbox", "old_sandbox_flag", is_flag=True, hidden=True),
    click.option(
        "--api-key-file",
        type=click.Path(path_type=Path),
        help="Read the API key from this file instead of $KELVIQ_API_KEY.",
    ),
    click.option(
        "--rate",
        default="auto",
        show_default=True,
        type=_OrAuto(click.FloatRange(min=0)),
        help="Requests per second, all workers together: a number (lowered when the API pushes "
        "back; 0: no limit), or auto (start at 10/s and find the API's limit).",
    ),
    click.option(
        "--timeout",
        default=30.0,
        show_default=True,
        type=click.FloatRange(min=0.1),
        help="Seconds before a request is abandoned and retried.",
    ),
    click.option(
        "--retries",
        default=5,
        show_default=True,
        type=click.IntRange(0, 50),
        help="Retries of one request on 5xx, timeouts and connection errors (429s: up to 20 tries).",
    ),
    click.option(
        "--stall-timeout",
        default=STALL_MINUTES,
        show_default=True,
        type=click.FloatRange(min=0.05),
        metavar="MINUTES",
        help="Abort (exit 3, rows left not_sent) when no write has succeeded for this long: an API "
        "that answers every write 429 or 5xx would otherwise hold the run, and its journal, for days.",
    ),
)


def _source(
    *,
    given: str | Path,
    file_format: str | None,
    limit: str,
    table: str | None,
    query: str | None,
    query_file: Path | None,
    db_url_file: Path | None,
    mapping: Path | None,
) -> tuple[Path | DatabaseSource, str | None]:
    """INPUT as the library takes it: a database (a URL, or `db`: the URL from --db-url-file,
    the mapping's [input], or $KELVIQ_IMPORT_DB_URL; with --table or --query, or the
    mapping's), a spooled stream, or a path. Flags win over the mapping file."""
    from .database import DatabaseSource, is_database_url, read_query_file
    from .mapping import InputSettings
    from .mapping_file import load_mapping

    text = os.fspath(given)
    if text == "db" or is_database_url(text):
        if query_file is not None:
            if query is not None:
                raise UsageError("--query and --query-file contradict each other; pass one")
            query = read_query_file(query_file)
        if file_format is not None:
            raise UsageError("--format names a file's format; a database input has none")
        if text != "db" and db_url_file is not None:
            raise UsageError("INPUT is a database URL and --db-url-file names another; pass one")
        settings = load_mapping(mapping).input if mapping is not None else InputSettings()
        if table is None and query is None:
            table, query = settings.table, settings.query
        url, url_file = (None, db_url_file) if text == "db" else (text, None)
        if url is None and url_file is None:
            url, url_file = settings.url, settings.url_file
        if url_file is not None:
            _warn_if_shared(url_file)
        return DatabaseSource(url=url, table=table, query=query, url_file=url_file), None
    if table is not None or query is not None or query_file is not None or db_url_file is not None:
        raise UsageError(
            "--table, --query, --query-file and --db-url-file read a database: INPUT must be its URL or `db`"
        )
    return _spool_if_stream(Path(text), file_format, limit)


def _warn_if_shared(path: Path) -> None:
    """A secret in a file others can read is a secret shared: said, not refused."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # reading it says why, in its own words
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        click.echo(f"warning: {path} is readable by other users; chmod 600 it", err=True)


def _spool_if_stream(
    path: Path, file_format: str | None, limit: str = STDIN_LIMIT
) -> tuple[Path, str | None]:
    """``-`` (stdin), ``/dev/stdin`` or a named pipe can be read once; the duplicate scan and the
    import read the input twice. Such an input is copied to a private temporary file first
    (removed at exit, on a signal too), named ``stdin.<format>`` so that every message names
    it, and at most ``limit`` of it: an endless pipe must not fill the disk."""
    import shutil
    import stat
    import tempfile

    if str(path) == "-":
        source = sys.stdin.buffer
    else:
        try:
            mode = path.stat().st_mode
        except OSError:
            return path, file_format  # the reader says what is wrong with it
        if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
            return path, file_format
        source = path.open("rb")
    most = _size(limit)
    spool_dir = Path(tempfile.mkdtemp(prefix="kelviq-import-stdin-"))
    atexit.register(shutil.rmtree, spool_dir, ignore_errors=True)
    spooled = spool_dir / "stdin"
    copied = 0
    with spooled.open("wb") as out:
        while block := source.read(1 << 20):
            copied += len(block)
            if copied > most:
                shutil.rmtree(spool_dir, ignore_errors=True)
                raise UsageError(
                    f"{path}: the input is larger than --max-stdin-size {limit}; "
                    "write it to a file, or raise the bound"
                )
            out.write(block)
    if source is not sys.stdin.buffer:
        source.close()
    if file_format is None:  # no name to go by: the first bytes say (Parquet, a workbook, JSON)
        with spooled.open("rb") as fh:
            file_format = sniff_format(fh.read(64))
    named = spooled.rename(spool_dir / f"stdin.{file_format}")
    return named, file_format


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _delimiter(value: str | None) -> str | None:
    """``--delimiter '\\t'`` as typed in a shell means a tab."""
    if value is None:
        return None
    value = value.replace("\\t", "\t")
    if len(value) != 1:
        raise UsageError("--delimiter must be one character (use '\\t' for tab)")
    return value


def _read_key(api_key_file: Path | None) -> str:
    if api_key_file is None:
        return os.environ.get("KELVIQ_API_KEY", "").strip()
    try:
        key = api_key_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"--api-key-file {api_key_file}: cannot be read ({exc.strerror})") from None
    _warn_if_shared(api_key_file)
    if not key:
        raise UsageError(f"--api-key-file {api_key_file}: the file is empty")
    return key


def _config(  # noqa: PLR0913 - every option a command has, by name
    *,
    input_path: str | Path,
    table: str | None = None,
    query: str | None = None,
    query_file: Path | None = None,
    db_url_file: Path | None = None,
    file_format: str | None,
    sheet: str | None,
    encoding: str | None,
    delimiter: str | None,
    header_row: int | None,
    mapping: Path | None,
    on_duplicate: OnDuplicate,
    allow_empty: bool,
    report_dir: Path | None,
    report_root: Path | None,
    base_url: str | None = None,
    use_sandbox: bool = False,
    old_sandbox_flag: bool = False,
    api_key_file: Path | None = None,
    rate: Rate = "auto",
    timeout: float = 30.0,
    retries: int = 5,
    stall_timeout: float = STALL_MINUTES,
    max_stdin_size: str = STDIN_LIMIT,
    concurrency: int | Auto = "auto",
    dry_run: bool = False,
    mode: Mode = "upsert",
    on_conflict: OnConflict = "failed",
    journal: Path | None = None,
    use_journal: bool = True,
    full: bool = False,
    baseline: Baseline = "auto",
    empty: Empty | None = None,
    limit: int | None = None,
    shard: str | None = None,
    absent: AbsentMode | None = None,
    absent_scope: AbsentScope = "written",
    absent_key: str = ABSENT_KEY,
    absent_guard: float = 0.1,
    metrics_file: Path | None = None,
    job_name: str | None = None,
    max_failures: int | None = None,
    max_failure_rate: float | None = None,
) -> ImportConfig:
    """The command's options as an ImportConfig, field by field: a renamed option is a
    TypeError here in every test that runs the command, never a silent default."""
    from .config import PRODUCTION_URL, SANDBOX_URL, ImportConfig, RetryPolicy, Shard

    if old_sandbox_flag:
        # Two sandboxes are easy to confuse: the name says which one.
        raise UsageError(
            "--sandbox is ambiguous: use --hosted-sandbox for kelviq's hosted sandbox API, or "
            "--base-url http://127.0.0.1:8765/api/v1 for the local one that `kelviq-import sandbox` starts"
        )
    if use_sandbox and base_url and os.environ.get("KELVIQ_BASE_URL") != base_url:
        raise UsageError("--hosted-sandbox and --base-url contradict each other; pass one")
    if report_dir is not None and report_root is not None:
        if os.environ.get("KELVIQ_IMPORT_REPORTS") != str(report_root):
            raise UsageError("--report-dir and --report-root contradict each other; pass one")
        report_root = None  # the environment's default yields to an explicit --report-dir
    key = "" if dry_run else _read_key(api_key_file)
    if not dry_run and not key:
        raise UsageError(
            "no API key: set KELVIQ_API_KEY or pass --api-key-file PATH "
            "(or use --dry-run to validate without sending)"
        )
    source, file_format = _source(
        given=input_path,
        file_format=file_format,
        limit=max_stdin_size,
        table=table,
        query=query,
        query_file=query_file,
        db_url_file=db_url_file,
        mapping=mapping,
    )
    return ImportConfig(
        input=source,
        file_format=file_format,
        base_url=SANDBOX_URL if use_sandbox else (base_url or PRODUCTION_URL),
        api_key=key,
        mapping=mapping,
        sheet=sheet,
        encoding=encoding,
        delimiter=_delimiter(delimiter),
        header_row=header_row,
        on_duplicate=on_duplicate,
        allow_empty=allow_empty,
        concurrency=concurrency,
        rate=rate or None,  # 0: no pacing
        timeout=timeout,
        retry=RetryPolicy(attempts=retries + 1, stall_after=stall_timeout * 60),
        report_dir=report_dir,
        report_root=report_root,
        dry_run=dry_run,
        mode=mode,
        on_conflict=on_conflict,
        journal=journal,
        use_journal=use_journal,
        full=full,
        baseline=baseline,
        empty=empty,
        limit=limit,
        shard=Shard.parse(shard) if shard else None,
        absent=absent,
        absent_scope=absent_scope,
        absent_key=absent_key,
        absent_guard=absent_guard,
        metrics_file=metrics_file,
        job_name=job_name,
        max_failures=max_failures,
        max_failure_rate=max_failure_rate,
    )


@main.command()
@_input_options
@_api_options
@click.option(
    "--concurrency",
    default="auto",
    show_default=True,
    type=_OrAuto(click.IntRange(1, 512)),
    help="Requests in flight at once: a number, or auto (rate x latency, 4 to 128; 8 with --rate 0).",
)
@click.option("--dry-run", is_flag=True, help="Read, map and validate every row; send nothing.")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="upsert",
    show_default=True,
    help="create: POST only; upsert: create new customers, PATCH existing ones; update: PATCH only.",
)
@click.option(
    "--on-conflict",
    type=click.Choice(ON_CONFLICT),
    default="failed",
    show_default=True,
    help="With --mode create: what a customer that already exists (409) counts as.",
)
@click.option(
    "--journal",
    "--state",
    "journal",
    type=click.Path(path_type=Path),
    help="Journal file [default: one per API under $KELVIQ_IMPORT_STATE, else "
    "$XDG_STATE_HOME/kelviq-import/]. --state is the old name.",
)
@click.option(
    "--no-journal",
    "--no-state",
    "no_journal",
    is_flag=True,
    help="No journal: send every row, remember nothing.",
)
@click.option(
    "--empty",
    type=click.Choice(EMPTY_CHOICES),
    help="An empty cell in a mapped column: keep kelviq's value, or clear it (null) "
    "[default: the mapping's `empty`, else keep].",
)
@click.option("--full", is_flag=True, help="Send every row even if the journal says it is unchanged.")
@click.option(
    "--baseline",
    type=click.Choice(BASELINES),
    default="auto",
    show_default=True,
    help="Compare rows with kelviq's own customer list first (GET /customers/, 100 a page): kelviq "
    "always; auto when its pages cost fewer requests than the rows the journal does not know "
    "(a stateless runner, --no-journal); journal: with the journal only.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="A trial run: send only the first N rows that need a request; the rest are reported not_sent.",
)
@click.option(
    "--max-failures", type=click.IntRange(min=0), help="Abort (exit 3) once more rows than this have failed."
)
@click.option(
    "--absent",
    type=click.Choice(ABSENT_MODES),
    help="The input is the whole population: after the run, list kelviq and report its customers "
    "that the input no longer holds (absent.csv); tag also marks them with a metadata key (the date "
    "first seen absent), removed when they come back. Never a delete.",
)
@click.option(
    "--absent-scope",
    type=click.Choice(ABSENT_SCOPES),
    default="written",
    show_default=True,
    help="written: only customers this importer wrote (its journal knows them, or they carry the "
    "mapping's [static_metadata]); all: every customer of the account.",
)
@click.option(
    "--absent-key", default=ABSENT_KEY, show_default=True, help="The metadata key --absent tag writes."
)
@click.option(
    "--absent-guard",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.1,
    show_default=True,
    help="--absent tag refuses (exit 3, nothing tagged) when more than this share of the scope is "
    "absent: a truncated export must not mark half the customers.",
)
@click.option(
    "--metrics-file",
    type=click.Path(path_type=Path),
    help="Write the run's metrics here (Prometheus text, for node_exporter's textfile collector), "
    "atomically, at the end of every run, aborted ones included.",
)
@click.option(
    "--job-name",
    help="The metrics' job label [default: the input's name without suffix; name it when the "
    "export's file name changes every night].",
)
@click.option(
    "--max-failure-rate",
    type=click.FloatRange(0, 1, min_open=True),
    help="Abort (exit 3) once this share of sent rows has failed, e.g. 0.05.",
)
def run(
    quiet: bool, no_journal: bool, verbose: int, log_file: Path | None, log_format: str, **options: Any
) -> None:
    """Import INPUT (.csv, .tsv, .csv.gz, .xlsx) into kelviq: one customer per valid row.

    Re-runs are cheap: a journal remembers what kelviq accepted, so rows unchanged since
    the last run are reported `unchanged` and cost no request; changed rows are PATCHed.

    Exit codes: 0 every row succeeded; 1 some rows invalid or failed; 2 usage or input
    error; 3 run aborted (key refused, error budget, journal in use); 130/143 interrupted.

    \b
    Examples:
      kelviq-import run customers.csv --dry-run
      KELVIQ_API_KEY=... kelviq-import run customers.xlsx --sheet Export --hosted-sandbox
      kelviq-import run legacy.csv --mapping mapping.toml --api-key-file ~/.kelviq-key
      kelviq-import run nightly.csv.gz --quiet --max-failure-rate 0.05   # from cron
    """

    def go() -> Summary:
        from .pipeline import run_import
        from .prepare import prepare

        _setup_logging(
            verbose, log_file, log_format, quiet=quiet, inputs=(options["input_path"], options["mapping"])
        )
        config = _config(use_journal=not no_journal, **options)
        prepared = prepare(config)
        if quiet or not interactive():
            summary = run_import(config, prepared=prepared, handle_signals=True)
            (print_summary_line if quiet else print_summary)(summary)
            return summary
        from .progress import LiveProgress, summary_line, summary_table
        from .timeline import Timeline

        timeline = Timeline()
        with LiveProgress(timeline, config.path.name) as live:
            summary = run_import(config, prepared=prepared, timeline=timeline, handle_signals=True)
        live.console.print(summary_table(summary))
        live.console.print(f"  {summary_line(summary)}")
        print_summary(summary, counts=False)
        return summary

    sys.exit(_guarded(go).exit_code)


@main.command()
@_input_options
@_api_options
@click.argument("more", metavar="[FIXED]...", nargs=-1, type=click.Path(path_type=Path))
def verify(
    quiet: bool,
    more: tuple[Path, ...],
    verbose: int,
    log_file: Path | None,
    log_format: str,
    **options: Any,
) -> None:
    """Prove a migration: every customer of INPUT (and of the FIXED files) is in kelviq and the same.

    Give the legacy export first, then the failed.csv files you fixed, round by round: a
    later file's row stands in for the original line it came from, and a customerId seen
    again stands in for the earlier row. Reads every customer from the API (pages of 100)
    and writes verify.csv (file, row, customerId, status, differences field by field).
    Exit 0 only when every row left standing is in kelviq and matches; a row still invalid
    cannot be checked and counts against it.

    \b
    Example:
      KELVIQ_API_KEY=... kelviq-import verify legacy.csv round1/failed.csv --mapping mapping.toml
    """

    def go() -> VerifySummary:
        from .verify import verify as run_verify

        _setup_logging(
            verbose,
            log_file,
            log_format,
            quiet=quiet,
            inputs=(options["input_path"], options["mapping"], *more),
        )
        summary = run_verify(_config(**options), more=more)
        print_verify(summary, quiet=quiet)
        return summary

    sys.exit(_guarded(go).exit_code)


@main.command()
@_input_options
@click.option(
    "--preview",
    default=0,
    show_default=True,
    type=click.IntRange(0, 1000),
    help="Print the first N payloads as JSON, as they would be sent.",
)
def validate(
    quiet: bool, preview: int, verbose: int, log_file: Path | None, log_format: str, **options: Any
) -> None:
    """Check INPUT without sending anything: counts, problems by kind, payload preview.

    Reads, maps and validates every row as `run` would, writes the same report directory
    (failed.csv holds every invalid row, ready to fix), and needs no API key or network.
    With --mapping, a mapped column missing from the file is an error (exit 2). Exit 1
    when some rows are invalid, 0 when all are valid.

    \b
    Examples:
      kelviq-import validate customers.csv --preview 3
      kelviq-import validate legacy.xlsx --sheet Export --header-row 3 --mapping mapping.toml
    """

    def go() -> Validation:
        from .validate import validate as run_validate

        _setup_logging(
            verbose, log_file, log_format, quiet=quiet, inputs=(options["input_path"], options["mapping"])
        )
        config = _config(dry_run=True, use_journal=False, **options)
        result = run_validate(config, preview=preview)
        print_validation(result, quiet)
        return result

    sys.exit(_guarded(go).exit_code)


@main.command()
@click.option(
    "--report-root",
    type=click.Path(path_type=Path),
    envvar="KELVIQ_IMPORT_REPORTS",
    default=Path("kelviq-import-reports"),
    show_default=True,
    help="Where the runs' reports are [env KELVIQ_IMPORT_REPORTS].",
)
@click.option("-n", "--last", default=20, show_default=True, type=click.IntRange(min=1), help="How many.")
def runs(report_root: Path, last: int) -> None:
    """List past runs under a report root, newest first: time, input, counts, exit code, report.

    \b
    Example:
      kelviq-import runs --report-root /var/log/kelviq
    """

    def go() -> None:
        from .runs import past_runs

        if not report_root.is_dir():
            raise UsageError(f"--report-root {report_root}: no such directory (no run has reported there)")
        found = past_runs(report_root)
        for note in found.skipped:
            click.echo(f"note: {shown(note)}", err=True)
        if not found.runs:
            click.echo(f"no runs under {report_root}")
            return
        for run in found.runs[:last]:
            click.echo(run_line(run))

    _guarded(go)


@main.command("init-mapping")
@_table_options
def init_mapping(input_path: str, delimiter: str | None, **options: Any) -> None:
    """Print a commented starting mapping file for INPUT's header.

    Recognised columns are filled in; kelviq fields with no matching column and columns
    that were not placed are written as comments to finish by hand.

    \b
    Example:
      kelviq-import init-mapping legacy.csv > mapping.toml
      kelviq-import init-mapping sqlite:///legacy.db --table customers > mapping.toml
      kelviq-import validate legacy.csv --mapping mapping.toml --preview 3
    """

    def go() -> None:
        from .config import ImportConfig
        from .database import DatabaseSource
        from .mapping import InputSettings
        from .mapping_file import draft_mapping, find_header
        from .readers import open_table
        from .sources import materialised

        source, file_format = _source(
            given=input_path,
            file_format=options.pop("file_format"),
            limit=options.pop("max_stdin_size"),
            table=options.pop("table"),
            query=options.pop("query"),
            query_file=options.pop("query_file"),
            db_url_file=options.pop("db_url_file"),
            mapping=None,
        )
        asked = options.pop("header_row")
        draft = ImportConfig(input=source, file_format=file_format, dry_run=True, allow_empty=True)
        with materialised(draft) as ready:
            table = find_header(
                lambda line: open_table(
                    ready.path,
                    delimiter=_delimiter(delimiter),
                    header_row=line,
                    file_format=ready.file_format,
                    **options,
                ),
                asked,
            )
        database = source if isinstance(source, DatabaseSource) else None
        settings = InputSettings(
            encoding=table.encoding if table.encoding not in (None, "utf-8", "utf-8-sig") else None,
            delimiter=table.delimiter if table.delimiter not in (None, ",") else None,
            header_row=table.header_line if table.header_line > 1 else None,
            sheet=table.sheet,
            table=database.table if database else None,
            query=database.query if database else None,
        )
        name = ready.display if ready.input_name else Path(input_path).name
        click.echo(draft_mapping(table.columns, name, settings), nl=False)

    _guarded(go)


T = TypeVar("T")


def _guarded(fn: Callable[[], T]) -> T:
    """Turn the library's errors into one line on stderr and an exit code; never a traceback."""
    try:
        return fn()
    except ImporterError as exc:
        click.echo(f"kelviq-import: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("kelviq-import: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # `kelviq-import validate x.csv | head`: the reader left; nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(ExitCode.BROKEN_PIPE)
    except Exception as exc:
        if os.environ.get("KELVIQ_IMPORT_DEBUG"):
            raise
        click.echo(
            f"kelviq-import: internal error: {type(exc).__name__}: {exc} "
            "(set KELVIQ_IMPORT_DEBUG=1 for the traceback, and please report it)",
            err=True,
        )
        sys.exit(ExitCode.INTERNAL)


@main.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default)."
)
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free port)."
)
@click.option(
    "--api-key",
    "sandbox_key",
    envvar="KELVIQ_SANDBOX_KEY",
    default=None,
    help="Key the sandbox accepts [default sandbox-demo-key].",
)
@click.option("--latency-ms", default=0.0, type=click.FloatRange(min=0), help="Delay added to every answer.")
@click.option(
    "--rate-limit",
    default=0.0,
    type=click.FloatRange(min=0),
    help="Requests per second before answering 429 (0: none).",
)
@click.option(
    "--throttle-style",
    type=click.Choice(THROTTLE_STYLES),
    default="bucket",
    show_default=True,
    help="How --rate-limit is kept: bucket = a token bucket holding one second (unused capacity is "
    "banked); drf = Django REST framework's SimpleRateThrottle (a sliding one-second log, nothing banked); "
    "gcra = a GCRA letting 3 requests through back to back and no more (nginx's limit_req, small burst).",
)
@click.option(
    "--throttle-period",
    default=1.0,
    type=click.FloatRange(min=1.0),
    show_default=True,
    help="With --throttle-style drf: the seconds its log spans, letting --rate-limit × SECONDS through "
    "in them, as DRF's rates per minute do (120/min: --rate-limit 2 --throttle-period 60).",
)
@click.option(
    "--throttle-status",
    type=click.Choice([str(status) for status in THROTTLE_STATUSES]),
    default="429",
    show_default=True,
    help="How --rate-limit is answered: 429 with Retry-After, or 503 with none (nginx's limit_req).",
)
@click.option(
    "--fault-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of writes answered 500/503."
)
@click.option(
    "--lose-response-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of successful writes whose answer is dropped after the change is made.",
)
@click.option(
    "--hang-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of writes applied, then answered late.",
)
@click.option("--hang-seconds", default=30.0, type=click.FloatRange(min=0), help="How late a hung answer is.")
@click.option(
    "--drop-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of requests whose connection drops."
)
@click.option(
    "--burst-429",
    metavar="EVERY:LEN",
    help="Every EVERY seconds, answer everything with 429 for LEN seconds (e.g. 10:0.5).",
)
@click.option(
    "--rate-limit-change",
    "rate_changes",
    metavar="AT:RATE",
    multiple=True,
    help="From second AT of the run (the first request is second 0) the rate limit is RATE (repeatable).",
)
@click.option("--seed", type=int, help="Seed for injected faults, for repeatable runs.")
@click.option(
    "--throttle-writes", is_flag=True, help="Answer every POST and PATCH 429 (Retry-After: 1), forever."
)
@click.option(
    "--routes",
    type=click.Choice(SANDBOX_ROUTES),
    default="all",
    show_default=True,
    help="spec: only the routes of the vendor's spec (no GET/DELETE of one customer: 405), "
    "unknown fields ignored as Django REST framework does; all: retrieve and delete as well.",
)
@click.option(
    "--duplicate-style",
    type=click.Choice(DUPLICATE_STYLES),
    default="drf400",
    show_default=True,
    help='How a duplicate customerId is refused: drf400 = 400 {"customerId": ["... already exists."]}.',
)
@click.option(
    "--unknown-style",
    type=click.Choice(UNKNOWN_STYLES),
    default="404",
    show_default=True,
    help="How a PATCH of an unknown customerId is refused: 404, or 400 saying it does not exist.",
)
def sandbox(  # noqa: PLR0913, PLR0917 - one parameter per click option
    host: str,
    port: int,
    sandbox_key: str | None,
    latency_ms: float,
    rate_limit: float,
    throttle_style: str,
    throttle_period: float,
    throttle_status: str,
    fault_rate: float,
    lose_response_rate: float,
    hang_rate: float,
    hang_seconds: float,
    drop_rate: float,
    burst_429: str | None,
    rate_changes: tuple[str, ...],
    seed: int | None,
    throttle_writes: bool,
    routes: str,
    duplicate_style: str,
    unknown_style: str,
) -> None:
    """Start a local kelviq-compatible customers API on loopback, to rehearse an import.

    It keeps customers in memory and prints its base URL and the API key it accepts.
    GET /_sandbox/stats shows the requests it has received.

    \b
    Example:
      kelviq-import sandbox --port 8765 --latency-ms 50 --fault-rate 0.05
    """
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        click.echo(
            "kelviq-import: error: the local sandbox needs its extra: pip install 'kelviq-import[sandbox]'",
            err=True,
        )
        sys.exit(ExitCode.USAGE)
    from .sandbox import DEFAULT_KEY, SandboxOptions, serve

    key = sandbox_key or DEFAULT_KEY
    every = length = 0.0
    if burst_429:
        try:
            every, length = (float(x) for x in burst_429.split(":"))
        except ValueError:
            raise click.BadParameter(
                "takes EVERY:LEN in seconds, e.g. 10:0.5", param_hint="--burst-429"
            ) from None
    if throttle_period != 1.0 and throttle_style != "drf":
        raise click.BadParameter("needs --throttle-style drf", param_hint="--throttle-period")
    try:
        changes = tuple((float(at), float(rate)) for at, rate in (c.split(":") for c in rate_changes))
    except ValueError:
        raise click.BadParameter("takes AT:RATE, e.g. 20:30", param_hint="--rate-limit-change") from None
    options = SandboxOptions(
        rate_changes=changes,
        hang_rate=hang_rate,
        hang_s=hang_seconds,
        drop_rate=drop_rate,
        burst_every=every,
        burst_len=length,
        api_key=key,
        latency_ms=latency_ms,
        rate_limit=rate_limit or None,
        throttle_style=throttle_style,
        throttle_period=throttle_period,
        throttle_status=int(throttle_status),
        fault_rate=fault_rate,
        lose_response_rate=lose_response_rate,
        seed=seed,
        duplicate_style=duplicate_style,
        unknown_style=unknown_style,
        routes=routes,
        throttle_writes=throttle_writes,
    )

    def announce(url: str) -> None:
        click.echo(f"kelviq sandbox listening on {url}")
        click.echo(f"  base URL: {url}")
        click.echo(f"  API key:  {key}" if key == DEFAULT_KEY else "  API key:  (as given)")
        shown_key = key if key == DEFAULT_KEY else "..."
        click.echo(f"  import into it: KELVIQ_API_KEY={shown_key} kelviq-import run FILE --base-url {url}")
        click.echo("  Ctrl-C to stop")
        sys.stdout.flush()

    def go() -> None:
        try:
            serve(options, host, port, announce)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None

    _guarded(go)
