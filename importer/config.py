"""The settings of one import run, as frozen values. Validation here; no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .client import RetryPolicy
from .errors import UsageError

__all__ = ["ImportConfig", "PRODUCTION_URL", "SANDBOX_URL"]

PRODUCTION_URL = "https://api.kelviq.com/api/v1"
SANDBOX_URL = "https://sandboxapi.kelviq.com/api/v1"
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
MODES = ("create", "upsert", "update")


@dataclass(frozen=True)
class ImportConfig:
    """Everything ``run_import`` needs. ``api_key`` is kept out of ``repr``."""

    input: Path
    base_url: str = PRODUCTION_URL
    api_key: str = field(default="", repr=False)
    mapping: Path | None = None
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header_row: int | None = None  # None: the first non-blank line/row
    on_duplicate: str = "error"  # a customerId on several rows: error (all reported), first, last
    allow_empty: bool = False  # a file with a header and no rows is an input error unless set
    concurrency: int = 8
    rate: float | None = 10.0  # requests per second for all workers together; None: no limit
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    report_dir: Path | None = None  # None: ./kelviq-import-reports/<UTC timestamp>/
    dry_run: bool = False
    mode: str = "upsert"  # create: POST only; upsert: POST new, PATCH known; update: PATCH only
    on_conflict: str = "failed"  # create mode: what a 409 (already exists) counts as
    state: Path | None = None  # the journal; None: derived from base_url (see state.py)
    use_state: bool = True  # False: no journal, every row is sent
    full: bool = False  # ignore the journal's "unchanged", send every row (still records)
    max_failures: int | None = None  # abort once more rows than this have failed
    max_failure_rate: float | None = None  # abort once this share of sent rows has failed

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise UsageError("--rate must be a positive number of requests per second")
        if self.timeout <= 0:
            raise UsageError("--timeout must be positive")
        if self.on_duplicate not in ("error", "first", "last"):
            raise UsageError("--on-duplicate must be error, first or last")
        if self.header_row is not None and self.header_row < 1:
            raise UsageError("--header-row counts from 1")
        if self.mode not in MODES:
            raise UsageError(f"--mode must be one of {', '.join(MODES)}")
        if self.on_conflict not in ("failed", "unchanged"):
            raise UsageError("--on-conflict must be failed or unchanged")
        if self.on_conflict != "failed" and self.mode != "create":
            raise UsageError("--on-conflict applies to --mode create only")
        if self.max_failures is not None and self.max_failures < 0:
            raise UsageError("--max-failures must be 0 or more")
        if self.max_failure_rate is not None and not 0 < self.max_failure_rate <= 1:
            raise UsageError("--max-failure-rate must be a share between 0 and 1, such as 0.05")
        if self.full and not self.use_state:
            raise UsageError("--full and --no-state contradict each other: --full still records")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--base-url {self.base_url!r} is not an http(s) URL")
        if (
            parts.scheme == "http"
            and parts.hostname not in _LOOPBACK
            and not parts.hostname.startswith("127.")
        ):
            raise UsageError(
                f"--base-url {self.base_url!r} uses plain http: the API key would cross the "
                "network unencrypted; use https (plain http is allowed for loopback only)"
            )
        if not self.dry_run and not self.api_key:
            raise UsageError(
                "no API key: set KELVIQ_API_KEY or pass --api-key-file PATH "
                "(or use --dry-run to validate without sending)"
            )
