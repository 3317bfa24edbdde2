"""The exceptions kelviq-import raises, and the exit codes the CLI gives them.

    ImporterError                  base of everything below; never raised itself
    ├── UsageError                 exit 2: a bad option or a conflicting set of options
    ├── InputError                 exit 2: the input file or mapping cannot be used as given
    │                              (missing, unreadable, no customerId column, bad mapping file)
    └── RunAborted                 exit 3: the run stopped before every row was tried
        ├── AuthenticationError    the API refused the key (401) or its permissions (403)
        └── OutputError            the report or the journal cannot be written (disk full);
                                   what the journal holds stays consistent, a re-run resumes

Per-row problems (an invalid email, a 400 from the API, retries exhausted) are not
exceptions: they are results, written to the report, and the run goes on.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ImporterError",
    "InputError",
    "OutputError",
    "RunAborted",
    "UsageError",
]


class ImporterError(Exception):
    """Base class: the CLI prints ``str(exc)`` as one line and exits with ``exit_code``."""

    exit_code: int = 1


class UsageError(ImporterError):
    exit_code = 2


class InputError(ImporterError):
    exit_code = 2


class RunAborted(ImporterError):
    exit_code = 3


class AuthenticationError(RunAborted):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"authentication refused by the API ({status}): {message}")


class OutputError(RunAborted):
    pass
