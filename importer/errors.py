"""The exceptions kelviq-import raises, and the exit codes (one enum, the only place they live).

    ImporterError                  base of everything below; never raised itself
    ├── UsageError                 exit 2: a bad option or a conflicting set of options
    ├── InputError                 exit 2: the input file or mapping cannot be used as given
    │                              (missing, unreadable, no customerId column, bad mapping file)
    └── RunAborted                 exit 3: the run stopped before every row was tried
        ├── AuthenticationError    the API refused the key (401) or its permissions (403)
        ├── Unreachable            the API cannot be reached at all (refused, DNS, TLS, timeouts)
        └── OutputError            the report or the journal cannot be written (disk full);
                                   what the journal holds stays consistent, a re-run resumes

    Inside the package only (the client and the run's workers; never raised to a caller):
    TransientError                 one request failed in a way worth retrying (429, 5xx,
                                   a timeout, a dropped connection)
    NotSent                        the run is stopping: this request was not started

Per-row problems (an invalid email, a 400 from the API, retries exhausted) are not
exceptions: they are results, written to the report, and the run goes on.
"""

from __future__ import annotations

import enum

__all__ = [
    "AuthenticationError",
    "ExitCode",
    "ImporterError",
    "InputError",
    "NotSent",
    "OutputError",
    "RunAborted",
    "TransientError",
    "Unreachable",
    "UsageError",
]


class ExitCode(enum.IntEnum):
    """What the command's exit status means; an interrupted run exits 128 + the signal."""

    OK = 0  # every row created, updated or unchanged (or valid, in a dry run)
    ROWS_TO_FIX = 1  # some rows invalid or failed; the others went through
    USAGE = 2  # a bad option, or an input or mapping that cannot be used: nothing was sent
    ABORTED = 3  # the run stopped before every row was tried (key, API, budget, journal, disk)
    INTERNAL = 70  # a bug: please report it (EX_SOFTWARE)
    INTERRUPTED = 130  # 128 + SIGINT
    BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of our output went away


class ImporterError(Exception):
    """Base class: the CLI prints ``str(exc)`` as one line and exits with ``exit_code``."""

    exit_code: int = ExitCode.ROWS_TO_FIX


class UsageError(ImporterError):
    exit_code = ExitCode.USAGE


class InputError(ImporterError):
    exit_code = ExitCode.USAGE


class RunAborted(ImporterError):
    exit_code = ExitCode.ABORTED


class AuthenticationError(RunAborted):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"authentication refused by the API ({status}): {message}")


class OutputError(RunAborted):
    pass


class TransientError(Exception):
    """A failure worth retrying: rate limited, server error, timeout or broken connection."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        *,
        connect: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.connect = connect  # the connection was never made: nothing reached the API


class NotSent(Exception):
    """The run is stopping: this request was not started (or was cancelled in flight)."""

    def __init__(self, attempts: int = 0) -> None:
        super().__init__("not sent: the run is stopping")
        self.attempts = attempts


class Unreachable(RunAborted):
    """The API cannot be reached at all (refused, DNS, TLS, timeouts): the run stops."""
