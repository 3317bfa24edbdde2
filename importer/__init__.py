"""kelviq-import: bulk-import customers from CSV or Excel into kelviq.

The library works without the CLI::

    from importer import ImportConfig, run_import

    summary = run_import(ImportConfig(input=Path("customers.csv"), base_url=..., api_key=...))
    if summary.exit_code:
        ...

Names are imported lazily so that ``kelviq-import --help`` does not pay for httpx and numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import AuthenticationError, ImporterError, InputError, OutputError, RunAborted, UsageError

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "ImportConfig",
    "ImporterError",
    "InputError",
    "OutputError",
    "RetryPolicy",
    "RunAborted",
    "Summary",
    "UsageError",
    "VerifySummary",
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
    "prepare": "pipeline",
    "run_import": "pipeline",
    "validate": "validate",
    "verify": "verify",
}

if TYPE_CHECKING:
    from .config import ImportConfig, RetryPolicy
    from .pipeline import prepare, run_import
    from .report import Summary
    from .validate import validate
    from .verify import VerifySummary, verify


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'importer' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
