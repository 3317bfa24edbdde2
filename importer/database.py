"""A database as the input: a table or a query, read through SQLAlchemy 2.x.

The legacy customer list often lives in the old system's database (PostgreSQL, MySQL, SQL
Server, a SQLite file), and exporting it to CSV first is where encoding and quoting troubles
begin. The result is streamed with a server-side cursor (``stream_results`` and ``yield_per``:
psycopg's named cursor on PostgreSQL) and spooled once to a private file (readers/spool.py), so
that the duplicate scan and the import read one consistent snapshot; values are written as a
person reads them (records.value_text: dates ISO 8601, decimals exact, integers without ``.0``,
NULL empty).
A row's number is its position in the result; failed.csv holds the result's columns.

The URL's password is never shown: every message names the URL as
``URL.render_as_string(hide_password=True)`` gives it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError, RunAborted, UsageError

if TYPE_CHECKING:
    from .readers.spool import SpoolWriter

__all__ = [
    "DB_URL_ENV",
    "DatabaseSource",
    "has_password",
    "is_database_url",
    "read_query_file",
    "read_url_file",
    "spool_database",
]

DB_URL_ENV = "KELVIQ_IMPORT_DB_URL"
BATCH = 1000  # rows fetched a round trip (yield_per)
# What a missing driver needs, by the URL's dialect: extras of kelviq-import.
_DRIVER_EXTRAS = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql", "mariadb": "mysql"}


def is_database_url(text: str) -> bool:
    """``sqlite:///legacy.db``, ``postgresql://…``, ``mysql+pymysql://…``: a scheme SQLAlchemy
    knows the shape of (``name://`` or ``name+driver://``); never a plain path."""
    head, sep, _ = text.partition("://")
    return (
        bool(sep)
        and head.replace("+", "").replace("_", "").isalnum()
        and not head.startswith(("http", "file"))
    )


@dataclass(frozen=True)
class DatabaseSource:
    """``url`` (a URL string, or an SQLAlchemy Engine or Connection) and either a ``table`` or a
    ``query`` (SQL text). Without ``url``, the URL is the first line of ``url_file`` (a secret
    mounted as a file), else KELVIQ_IMPORT_DB_URL; it is read when the database is."""

    url: Any = field(default=None, repr=False)  # it may hold a password: never in a repr
    table: str | None = None
    query: str | None = None
    url_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.table is None) == (self.query is None):
            raise UsageError("a database input takes --table NAME or --query SQL (one of them)")
        if self.url is None and self.url_file is None and not os.environ.get(DB_URL_ENV):
            raise UsageError(
                f"no database URL: pass one as INPUT, name a file with --db-url-file (or [input] "
                f"url_file in the mapping), or set {DB_URL_ENV}"
            )

    @property
    def display(self) -> str:
        """How messages and reports name it: the masked URL and what is read from it."""
        what = f"table {self.table}" if self.table is not None else "query"
        return f"{_masked(self._url_or_none())} ({what})"

    def resolved_url(self) -> Any:
        """The URL (or Engine/Connection) to read: given, from url_file, or from the env."""
        if self.url is not None:
            return self.url
        if self.url_file is not None:
            return read_url_file(self.url_file)
        return os.environ[DB_URL_ENV]

    def _url_or_none(self) -> Any:
        try:
            return self.resolved_url()
        except (UsageError, KeyError):
            return None


def read_url_file(path: Path) -> str:
    """The first line of a file holding a database URL, as Docker and Kubernetes mount secrets."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"database URL file {path}: cannot be read ({type(exc).__name__})") from None
    url = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not url:
        raise UsageError(f"database URL file {path}: the file is empty")
    return url


def has_password(url: str) -> bool:
    """Whether a URL string carries a password (``postgresql://user:secret@host/db``)."""
    try:
        import sqlalchemy as sa

        return sa.engine.make_url(url).password is not None
    except Exception:
        return ":" in url.partition("://")[2].partition("@")[0] and "@" in url


def spool_database(source: DatabaseSource, out: SpoolWriter) -> int:
    """Stream the table or query result into the spool ``out``; returns the rows written.
    InputError for what the user can fix (a bad query, an unknown table, a missing driver),
    RunAborted for a database out of reach."""
    try:
        import sqlalchemy as sa
        from sqlalchemy import exc as sa_exc
    except ImportError:  # pragma: no cover - a dependency of the package
        raise InputError("reading a database needs SQLAlchemy: pip install sqlalchemy") from None
    engine, own = _engine(source, sa, sa_exc)
    shown = source.display
    try:
        try:
            conn = engine.connect() if own or isinstance(engine, sa.engine.Engine) else engine
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            raise RunAborted(f"{shown}: cannot reach the database ({_first_line(exc)})") from None
        try:
            statement = _statement(source, conn, sa)
            result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(statement)
            out.columns(list(result.keys()))
            for row in result:
                out.row(row)
        except sa_exc.NoSuchTableError:
            raise InputError(f"{shown}: no such table {source.table!r}") from None
        except sa_exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise RunAborted(f"{shown}: the database went away ({_first_line(exc)})") from None
            raise InputError(f"{shown}: the database refused the query: {_first_line(exc)}") from None
        except sa_exc.SQLAlchemyError as exc:
            raise InputError(f"{shown}: {_first_line(exc)}") from None
        finally:
            if conn is not engine:
                conn.close()
    finally:
        if own:
            engine.dispose()
    return out.count


def _engine(source: DatabaseSource, sa: Any, sa_exc: Any) -> tuple[Any, bool]:
    """The engine (or connection) to read with, and whether it is ours to dispose of."""
    url = source.resolved_url()
    if not isinstance(url, str | sa.engine.URL):
        return url, False  # an Engine or a Connection the caller made
    try:
        parsed = sa.engine.make_url(url)
    except sa_exc.ArgumentError:
        raise InputError(f"{_masked(url)}: not a database URL") from None
    try:
        return sa.create_engine(parsed), True
    except sa_exc.NoSuchModuleError:
        raise InputError(f"{_masked(url)}: SQLAlchemy knows no database {parsed.drivername!r}") from None
    except ImportError as exc:
        extra = _DRIVER_EXTRAS.get(parsed.get_backend_name())
        hint = f"pip install 'kelviq-import[{extra}]'" if extra else f"install the driver ({exc.name})"
        raise InputError(f"{_masked(url)}: the database driver is missing: {hint}") from None


def _statement(source: DatabaseSource, conn: Any, sa: Any) -> Any:
    if source.query is not None:
        return sa.text(source.query)
    schema, _, name = (source.table or "").rpartition(".")
    table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
    return sa.select(table)


def _masked(url: Any) -> str:
    """The URL as messages may show it: the password hidden (``***``), whatever the input."""
    if url is None:
        url = os.environ.get(DB_URL_ENV, "")
    try:
        import sqlalchemy as sa

        if isinstance(url, sa.engine.Engine | sa.engine.Connection):
            url = url.engine.url
        return str(sa.engine.make_url(url).render_as_string(hide_password=True))
    except Exception:
        return "the database URL"


def _first_line(exc: BaseException) -> str:
    """A driver's message, in one line and without SQLAlchemy's background link."""
    text = str(getattr(exc, "orig", None) or exc)
    return " ".join(text.split("\n", maxsplit=1)[0].split())[:300]


def read_query_file(path: Path, what: str | None = None) -> str:
    """The SQL in a file; ``what`` names where it was given (the flag, or the mapping's key)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{what or '--query-file'} {path}: cannot be read ({exc})") from None
    if not text.strip():
        raise UsageError(f"{what or '--query-file'} {path}: the file holds no SQL")
    return text
