"""The settings of one import run, as frozen values. Validation here; no I/O."""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, get_args, runtime_checkable
from urllib.parse import urlsplit

from .database import DatabaseSource, is_database_url
from .errors import UsageError

__all__ = ["PRODUCTION_URL", "SANDBOX_URL", "ImportConfig", "RetryPolicy", "Shard", "normalise_base_url"]

PRODUCTION_URL = "https://api.kelviq.com/api/v1"
SANDBOX_URL = "https://sandboxapi.kelviq.com/api/v1"
# The choices of the command line and of ImportConfig, defined once (click takes them from here).
Mode = Literal["create", "upsert", "update"]  # POST only; POST new and PATCH known; PATCH only
OnDuplicate = Literal["error", "first", "last"]  # a customerId on several rows of one file
OnConflict = Literal["failed", "unchanged"]  # --mode create: an existing customer counts as
Empty = Literal["keep", "clear"]  # an empty mapped cell: keep kelviq's value, or clear it
# What a run compares rows with: kelviq's own list (auto: when the journal is new and listing
# costs fewer requests than it saves), or the journal alone.
Baseline = Literal["auto", "kelviq", "journal"]
# Customers in kelviq (and in scope) that the input no longer holds: report them, or tag them too.
AbsentMode = Literal["report", "tag"]
AbsentScope = Literal["written", "all"]  # written: the journal knows them, or the mapping's marker
ABSENT_MODES: tuple[AbsentMode, ...] = get_args(AbsentMode)
ABSENT_SCOPES: tuple[AbsentScope, ...] = get_args(AbsentScope)
ABSENT_KEY = "kelviq_import_absent_since"
BASELINES: tuple[Baseline, ...] = get_args(Baseline)
Auto = Literal["auto"]
# Requests per second: a number (lowered when the API pushes back), "auto" (find the API's
# limit: ratelimit.py), or None (no pacing at all).
Rate = float | Auto | None
STALL_MINUTES = 10.0  # RetryPolicy.stall_after, as --stall-timeout gives it
AUTO_WORKERS = 128  # --concurrency auto: the most requests ever in flight (ratelimit.AUTO_CONCURRENCY)
UNPACED_WORKERS = 8  # --concurrency auto with --rate 0: no rate to size from
MODES: tuple[Mode, ...] = get_args(Mode)
ON_DUPLICATE: tuple[OnDuplicate, ...] = get_args(OnDuplicate)
ON_CONFLICT: tuple[OnConflict, ...] = get_args(OnConflict)
EMPTY_CHOICES: tuple[Empty, ...] = get_args(Empty)


@runtime_checkable
class DataFrameLike(Protocol):
    """What is used of a pandas DataFrame (polars' to_pandas() gives one too)."""

    columns: Any
    index: Any

    def itertuples(self, index: bool = ..., name: str | None = ...) -> Iterable[tuple[Any, ...]]: ...


# Where the rows come from: a file (path), a DataFrame, or rows as mappings.
Source = Path | str | os.PathLike[str] | DataFrameLike | Iterable[Mapping[str, Any]] | DatabaseSource


@dataclass(frozen=True, slots=True)
class Shard:
    """``--shard K/N``: this runner's share of the input, K of N (0-based, as a Kubernetes
    Indexed Job's JOB_COMPLETION_INDEX and Airflow's map_index count). A row belongs to shard
    ``blake2b(customerId) mod N``, stable across machines, runs and Python versions (not
    ``hash()``, which is salted per process); a row with no customerId goes by its row number.
    The N shards together hold every row exactly once, and a customer always the same shard."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise UsageError(f"--shard {text!r}: write K/N, e.g. 0/4 (the first of four)") from None
        return cls(index, count)

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise UsageError(f"--shard {self.index}/{self.count}: K counts from 0 to N-1, e.g. 0/4 to 3/4")

    def holds(self, customer_id: str, row: int) -> bool:
        if self.count == 1:
            return True
        if not customer_id:
            return row % self.count == self.index
        digest = hashlib.blake2b(customer_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request before reporting its row as failed."""

    attempts: int = 6  # failures (5xx, timeouts, dropped connections); 429s count apart
    max_elapsed: float = 600.0  # seconds from the first attempt; bounds a row's total time
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    # No answer of any kind from the API for this long, and connections still failing: the
    # API is unreachable, and the run stops instead of retrying every row for hours.
    unreachable_after: float = 60.0
    # No write accepted for this long (every one throttled or failing): the run cannot make
    # progress, and stops (exit 3) rather than hold its journal into the next night.
    stall_after: float = STALL_MINUTES * 60


@dataclass(frozen=True)
class ImportConfig:
    """Everything ``run_import`` needs. ``api_key`` is kept out of ``repr``."""

    # A file (path), or for the Python API a pandas DataFrame or an iterable of mappings
    # (sources.py spools those to a file for the run; ``path`` is then that file).
    input: Source
    input_name: str | None = None  # how reports name the input; None: its path
    input_kind: str | None = None  # what a spooled input was (database, DataFrame, rows); None: the file's
    base_url: str = PRODUCTION_URL
    api_key: str = field(default="", repr=False)
    mapping: Path | None = None
    sheet: str | None = None
    file_format: str | None = None  # csv, tsv, xlsx…: what the input is when its name does not say
    encoding: str | None = None
    delimiter: str | None = None
    header_row: int | None = None  # None: the first non-blank line/row
    on_duplicate: OnDuplicate = "error"  # a customerId on several rows: error (all reported), first, last
    allow_empty: bool = False  # a file with a header and no rows is an input error unless set
    concurrency: int | Auto = "auto"  # requests in flight; auto: rate x latency (Little's law)
    rate: Rate = "auto"  # requests per second for all workers together; auto: find the limit
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    report_dir: Path | None = None  # exactly this directory; None: a new one under report_root
    report_root: Path | None = None  # None: ./kelviq-import-reports; each run a <UTC time>/ in it
    dry_run: bool = False
    mode: Mode = "upsert"  # create: POST only; upsert: POST new, PATCH known; update: PATCH only
    on_conflict: OnConflict = "failed"  # create mode: what a 409 (already exists) counts as
    journal: Path | None = None  # the journal file; None: one per API (journal.default_state_path)
    use_journal: bool = True  # False: no journal, every row is sent
    full: bool = False  # ignore the journal's "unchanged", send every row (still records)
    baseline: Baseline = "auto"  # list kelviq's customers first: auto (a new journal), kelviq, journal
    empty: Empty | None = None  # keep | clear: what an empty mapped cell means; None: the mapping's
    limit: int | None = None  # a trial run: send only the first N rows that need a request
    shard: Shard | None = None  # this runner's share of the rows (Shard.parse("K/N"))
    absent: AbsentMode | None = None  # the input is the whole population: report (or tag) the rest
    absent_scope: AbsentScope = "written"
    absent_key: str = ABSENT_KEY  # the metadata key tag writes (the date first seen absent)
    absent_guard: float = 0.1  # tag refuses when more than this share of the scope is absent
    metrics_file: Path | None = None  # Prometheus text file, rewritten at the end of every run
    job_name: str | None = None  # the metrics' job label; None: the input's stem
    max_failures: int | None = None  # abort once more rows than this have failed
    max_failure_rate: float | None = None  # abort once this share of sent rows has failed

    def _coerce(self) -> None:
        """Values a caller may give in a looser form, as the fields hold them."""
        if isinstance(self.input, str | os.PathLike) and not isinstance(self.input, Path):
            text = os.fspath(self.input)
            if isinstance(text, str) and is_database_url(text):
                raise UsageError(
                    "a database URL as ImportConfig(input=…) needs a table or a query: "
                    "pass DatabaseSource(url, table=…) or DatabaseSource(url, query=…)"
                )
            object.__setattr__(self, "input", Path(self.input))
        if isinstance(self.shard, str):
            object.__setattr__(self, "shard", Shard.parse(self.shard))
        for name in ("mapping", "report_dir", "report_root", "journal", "metrics_file"):
            value = getattr(self, name)
            if isinstance(value, str | os.PathLike) and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))  # a str from a caller is a path too

    def _check_absent(self) -> None:
        if self.absent is not None and self.absent not in ABSENT_MODES:
            raise UsageError(f"--absent must be one of {', '.join(ABSENT_MODES)}")
        if self.absent_scope not in ABSENT_SCOPES:
            raise UsageError(f"--absent-scope must be one of {', '.join(ABSENT_SCOPES)}")
        if not 0 < self.absent_guard <= 1:
            raise UsageError("--absent-guard must be a share between 0 and 1, such as 0.1")
        if self.absent is not None and self.limit is not None:
            raise UsageError("--absent and --limit contradict each other: a trial run is not the whole input")
        if self.absent is not None and self.dry_run:
            raise UsageError("--absent lists kelviq: it needs a real run, not a dry run")

    @property
    def workers(self) -> int:
        """Workers to start: the number asked for, or auto's upper bound (the pacer admits
        as many of them at once as rate x latency needs)."""
        if self.concurrency != "auto":
            return self.concurrency
        # Sized from the rate; with no pacing at all (--rate 0) there is none to size from.
        return AUTO_WORKERS if self.rate is not None else UNPACED_WORKERS

    @property
    def path(self) -> Path:
        """The input file; an in-memory source must have gone through sources.materialised."""
        if not isinstance(self.input, Path):
            raise UsageError("this input is not a file yet: use it through run_import/validate/verify")
        return self.input

    @property
    def display(self) -> str:
        """The input as messages and summaries name it (a database's URL without its password)."""
        if self.input_name:
            return self.input_name
        return self.input.display if isinstance(self.input, DatabaseSource) else str(self.input)

    def __post_init__(self) -> None:
        self._coerce()
        if self.concurrency != "auto" and (not isinstance(self.concurrency, int) or self.concurrency < 1):
            raise UsageError("--concurrency must be a whole number of at least 1, or auto")
        if self.rate != "auto" and self.rate is not None and (isinstance(self.rate, str) or self.rate <= 0):
            raise UsageError("--rate must be a positive number of requests per second, or auto")
        if self.timeout <= 0:
            raise UsageError("--timeout must be positive")
        if self.on_duplicate not in ON_DUPLICATE:
            raise UsageError("--on-duplicate must be error, first or last")
        if self.header_row is not None and self.header_row < 1:
            raise UsageError("--header-row counts from 1")
        if self.mode not in MODES:
            raise UsageError(f"--mode must be one of {', '.join(MODES)}")
        if self.on_conflict not in ON_CONFLICT:
            raise UsageError("--on-conflict must be failed or unchanged")
        if self.on_conflict != "failed" and self.mode != "create":
            raise UsageError("--on-conflict applies to --mode create only")
        if self.limit is not None and self.limit < 1:
            raise UsageError("--limit must be at least 1")
        if self.max_failures is not None and self.max_failures < 0:
            raise UsageError("--max-failures must be 0 or more")
        if self.max_failure_rate is not None and not 0 < self.max_failure_rate <= 1:
            raise UsageError("--max-failure-rate must be a share between 0 and 1, such as 0.05")
        if self.full and not self.use_journal:
            raise UsageError("--full and --no-journal contradict each other: --full still records")
        if self.baseline not in BASELINES:
            raise UsageError(f"--baseline must be one of {', '.join(BASELINES)}")
        if self.full and self.baseline == "kelviq":
            raise UsageError("--full and --baseline kelviq contradict each other: --full sends every row")
        self._check_absent()
        if self.empty is not None and self.empty not in EMPTY_CHOICES:
            raise UsageError("--empty must be keep or clear")
        _check_base_url(self.base_url)
        object.__setattr__(self, "base_url", normalise_base_url(self.base_url))
        if not self.dry_run and not self.api_key:
            # The library reads no environment: a caller's key is whatever it passes (the command
            # line reads $KELVIQ_API_KEY or --api-key-file and says so itself).
            raise UsageError(
                "no API key: ImportConfig(api_key=...) is empty (on the command line: set "
                "KELVIQ_API_KEY or pass --api-key-file PATH; or validate with a dry run)"
            )
        if not self.dry_run and not all("!" <= c <= "~" for c in self.api_key):
            # Never shown: a key with a line break or a non-ASCII letter cannot be a header
            # value, and the exception an HTTP library raises about it would print it whole.
            raise UsageError(
                "the API key holds a character that cannot be sent in an HTTP header (a space, "
                "a line break, a control or non-ASCII character); copy the key again"
            )


def is_loopback(host: str) -> bool:
    """An IP literal in 127.0.0.0/8 or ::1, or exactly ``localhost``: never a name that
    merely starts like one (``127.0.0.1.example.com`` is somebody's DNS)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_base_url(url: str) -> str:
    """One spelling per API: scheme and host in lower case, no default port, no trailing slash.
    The journal is named and matched by it, so ``HTTPS://API.kelviq.com:443/api/v1/`` and
    ``https://api.kelviq.com/api/v1`` share one journal and read the same in every message."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    netloc = host if port is None or port == default else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def _check_base_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        hostname, _port = parts.hostname, parts.port
    except ValueError:
        raise UsageError("--base-url is not a valid URL (bad host or port)") from None
    if parts.username is not None or parts.password is not None:
        # Said without echoing the URL: it holds a password, and httpx would send it as Basic
        # auth in place of the API key.
        raise UsageError(
            "--base-url holds a user name or password (user:password@host); remove them: "
            "kelviq takes the API key only (KELVIQ_API_KEY or --api-key-file)"
        )
    if parts.scheme not in ("http", "https") or not hostname:
        raise UsageError(f"--base-url {url!r} is not an http(s) URL")
    if parts.query or parts.fragment:
        raise UsageError(f"--base-url {url!r}: a base URL has no ?query or #fragment")
    if parts.scheme == "http" and not is_loopback(hostname):
        raise UsageError(
            f"--base-url {url!r} uses plain http: the API key would cross the "
            "network unencrypted; use https (plain http is allowed for loopback only)"
        )
