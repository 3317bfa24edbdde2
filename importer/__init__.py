"""kelviq-import: bulk-import customers from CSV, Excel, JSON or Parquet into kelviq.

The library works without the CLI::

    from importer import ImportConfig, run_import

    summary = run_import(ImportConfig(input=Path("customers.csv"), base_url=..., api_key=...))
    if summary.exit_code:
        ...

``input`` may also be a pandas DataFrame or any iterable of dicts; inside an event loop use
``await arun_import(...)`` (and ``avalidate``/``averify``).

Names are imported lazily so that ``kelviq-import --help`` does not pay for httpx and calamine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AuthenticationError,
    ExitCode,
    ImporterError,
    InputError,
    OutputError,
    RunAborted,
    UsageError,
)

__all__ = [
    "AuthenticationError",
    "ExitCode",
    "ImportConfig",
    "ImporterError",
    "InputError",
    "OutputError",
    "RetryPolicy",
    "RunAborted",
    "Summary",
    "UsageError",
    "VerifySummary",
    "__version__",
    "arun_import",
    "avalidate",
    "averify",
    "prepare",
    "run_import",
    "validate",
    "verify",
]

_LAZY = {
    "ImportConfig": "config",
    "RetryPolicy": "config",
    "Summary": "report",
    "VerifySummary": "verify",
    "prepare": "prepare",
    "run_import": "pipeline",
    "arun_import": "pipeline",
    "avalidate": "validate",
    "averify": "verify",
    "validate": "validate",
    "verify": "verify",
}

if TYPE_CHECKING:
    from .config import ImportConfig, RetryPolicy
    from .pipeline import arun_import, run_import
    from .prepare import prepare
    from .report import Summary
    from .validate import avalidate, validate
    from .verify import VerifySummary, averify, verify


def __getattr__(name: str) -> Any:
    if name == "__version__":  # one source: the package metadata (pyproject.toml)
        from importlib.metadata import version

        return version("kelviq-import")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'importer' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
