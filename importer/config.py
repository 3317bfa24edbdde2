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
    concurrency: int = 8
    rate: float | None = 10.0  # requests per second for all workers together; None: no limit
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    report_dir: Path | None = None  # None: ./kelviq-import-reports/<UTC timestamp>/
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise UsageError("--rate must be a positive number of requests per second")
        if self.timeout <= 0:
            raise UsageError("--timeout must be positive")
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
