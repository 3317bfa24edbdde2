"""The journal: what the API last accepted for each customerId, so re-runs send only changes.

One SQLite file (WAL) per API base URL, under the user's state directory unless ``--journal``
names one. Before each write request the journal records the intent (customerId and payload
digest: write-ahead); each success is committed as soon as the API confirms it and clears
the intent. A run killed at any instant loses at most the answers that were in flight; the
next run finds those customers "already existing" with an intent of its own on record, and
reports them as the creates they were, never as failures and never created twice. A lock
file beside the journal keeps two runs from working on it at once; the OS releases it when
the process dies, even by SIGKILL.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import sqlite3
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from .config import normalise_base_url
from .errors import InputError, OutputError, RunAborted

__all__ = ["STATE_ENV", "Journal", "JournalEntry", "default_state_path", "payload_hash"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    customer_id  TEXT PRIMARY KEY,
    payload_hash BLOB NOT NULL,
    kelviq_id    TEXT,
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS absent (customer_id TEXT PRIMARY KEY, since TEXT NOT NULL) WITHOUT ROWID;
"""
# The write-ahead intent lives in the customer's own row (one statement, one commit each for
# intent and record): ``pending`` is the digest being sent; ``payload_hash`` empty (x'') means
# nothing accepted yet. Journals from before intents get the column added.
_PENDING = "ALTER TABLE customers ADD COLUMN pending BLOB"
_NONE = b""


def payload_hash(payload: Mapping[str, Any]) -> bytes:
    """A stable digest of what would be sent: key order and spacing do not matter."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


STATE_ENV = "KELVIQ_IMPORT_STATE"


def default_state_path(base_url: str, shard: object | None = None) -> Path:
    """One journal per API: ``$KELVIQ_IMPORT_STATE/<host>_<port>_<path>.sqlite3`` when that is
    set (one directory for every user of a machine: cron and interactive runs share it), else
    ``$XDG_STATE_HOME/kelviq-import/`` (``~/.local/state/kelviq-import/``)."""
    shared = os.environ.get(STATE_ENV)
    root = (
        Path(shared)
        if shared
        else Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "kelviq-import"
    )
    parts = urlsplit(base_url)
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", f"{parts.hostname}_{parts.port or ''}{parts.path}").strip("_")
    # Shards on one machine run at once: each its own journal (and lock), named by its share.
    part = "" if shard is None else "." + str(shard).replace("/", "-of-")
    return root / f"{slug}{part}.sqlite3"


def _open_lock(given: Path, lock: Path) -> IO[str]:
    """The lock file, opened without following a link and without truncating it (only its
    holder writes its pid into it, once the lock is taken)."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        if lock.is_symlink():
            raise OSError(errno.ELOOP, "a symbolic link")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | nofollow, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(
                f"--journal {given}: its lock file {lock} is a symbolic link; remove it (a planted "
                "link would make the lock write over the file it points at)"
            ) from None
        raise InputError(f"--journal {given}: cannot be created ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(f"--journal {given}: its lock file {lock} is not a regular file; remove it")
    return os.fdopen(fd, "r+", encoding="utf-8")


# What a journal holds: anything else in the file belongs to another program.
_OURS = {
    "customers": {"customer_id", "payload_hash", "kelviq_id", "updated_at"},
    "meta": {"key", "value"},
    "absent": {"customer_id", "since"},
}


def _refuse_foreign(given: Path, path: Path) -> None:
    """Refuse, before any write, a file that is not a journal: a link where the journal's WAL
    files go, or an SQLite database with tables of its own (``--journal`` naming another
    program's file would otherwise get a new column, a table and WAL mode)."""
    for side in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        if side.is_symlink():
            raise InputError(f"--journal {given}: {side} is a symbolic link; remove it")
    try:
        if not path.exists() or path.stat().st_size == 0:
            return
    except OSError as exc:
        raise InputError(f"--journal {given}: cannot be read ({exc.strerror or exc})") from None
    if not path.is_file():
        raise InputError(f"--journal {given}: not a regular file")
    try:
        probe = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            tables = {
                name: {row[1] for row in probe.execute(f'PRAGMA table_info("{name}")')}
                for (name,) in probe.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        finally:
            probe.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"--journal {given}: not a usable journal ({exc})") from None
    foreign = sorted(n for n, cols in tables.items() if n not in _OURS or not _OURS[n] <= cols)
    if foreign:
        raise InputError(
            f"--journal {given}: an SQLite database of another program (tables {', '.join(foreign[:5])}), "
            "not a kelviq-import journal; name a new file"
        )


def _lock_nowait(fh: IO[str]) -> bool:
    """Take the journal's lock without waiting; False when another process holds it. The OS
    drops it with its holder, even after SIGKILL: flock on POSIX, a byte lock on Windows."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class JournalEntry:
    payload_hash: bytes
    kelviq_id: str | None


class Journal:
    """Open with ``Journal.open(path)``; a context manager that holds the lock while open."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: IO[str]) -> None:
        self.path = path
        self._conn = conn
        self._lock = lock

    @classmethod
    def open(cls, path: Path, *, base_url: str) -> Journal:
        """Lock and open the journal at ``path`` (a link to it is followed: one lock per file).

        Nothing is written before it is known to be a journal: a lock file that is a link
        (planted in a shared state directory to make the lock overwrite another file) is
        refused, and so is an SQLite database of another program, byte for byte untouched.
        """
        given = path
        try:
            path = path.resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--journal {given}: cannot be created ({exc.strerror or exc})") from None
        lock = _open_lock(given, Path(f"{path}.lock"))
        if not _lock_nowait(lock):
            try:
                lock.seek(0)
                holder = lock.read().strip() or "another process"
            except OSError:  # Windows: a locked byte cannot be read
                holder = "another process"
            lock.close()
            raise RunAborted(
                f"another kelviq-import run ({holder}) is using the journal {path}; "
                "wait for it to finish or pass a different --journal"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        try:
            _refuse_foreign(given, path)
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(customers)")}
            if "pending" not in columns:
                conn.execute(_PENDING)
            row = conn.execute("SELECT value FROM meta WHERE key = 'base_url'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta VALUES ('base_url', ?)", (base_url,))
            elif normalise_base_url(row[0]) != normalise_base_url(base_url):
                raise InputError(
                    f"--journal {given} is the journal of {row[0]}, not {base_url}; use one journal per API"
                )
        except sqlite3.DatabaseError as exc:
            lock.close()
            raise InputError(f"--journal {given}: not a usable journal ({exc})") from None
        except InputError:
            lock.close()
            raise
        return cls(path, conn, lock)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()
        self._lock.close()  # releases the flock

    def get(self, customer_id: str) -> JournalEntry | None:
        return self.lookup(customer_id)[0]

    def lookup(self, customer_id: str) -> tuple[JournalEntry | None, bytes | None]:
        """What kelviq last accepted for this customerId, and the digest of a payload sent for
        it whose answer never came back (a run killed mid-request), in one query."""
        row = self._conn.execute(
            "SELECT payload_hash, kelviq_id, pending FROM customers WHERE customer_id = ?", (customer_id,)
        ).fetchone()
        if row is None:
            return None, None
        entry = JournalEntry(bytes(row[0]), row[1]) if row[0] else None
        return entry, bytes(row[2]) if row[2] is not None else None

    def record(self, customer_id: str, digest: bytes, kelviq_id: str | None) -> None:
        """Remember an accepted payload; committed at once (WAL keeps this cheap)."""
        try:
            self._record(customer_id, digest, kelviq_id)
        except sqlite3.OperationalError as exc:
            # SQLite rolls the statement back: the journal stays consistent, one row short,
            # and that row is found again by the API (409 -> update) on the next run.
            raise OutputError(f"cannot write the journal {self.path}: {exc}") from None

    def _record(self, customer_id: str, digest: bytes, kelviq_id: str | None) -> None:
        self._conn.execute(
            "INSERT INTO customers (customer_id, payload_hash, kelviq_id) VALUES (?, ?, ?) "
            "ON CONFLICT (customer_id) DO UPDATE SET payload_hash = excluded.payload_hash, "
            "kelviq_id = COALESCE(excluded.kelviq_id, customers.kelviq_id), "
            "updated_at = excluded.updated_at, pending = NULL",
            (customer_id, digest, kelviq_id),
        )

    def record_intents(self, intents: Iterable[tuple[str, bytes]]) -> None:
        """Write ahead for a batch of rows about to be sent, in one commit (a commit a row cost
        as much as the rest of the journal's work)."""
        try:
            with self._conn:
                self._conn.executemany(
                    "INSERT INTO customers (customer_id, payload_hash, pending) VALUES (?, ?, ?) "
                    "ON CONFLICT (customer_id) DO UPDATE SET pending = excluded.pending",
                    ((cid, _NONE, digest) for cid, digest in intents),
                )
        except sqlite3.OperationalError as exc:
            raise OutputError(f"cannot write the journal {self.path}: {exc}") from None

    def intent(self, customer_id: str) -> bytes | None:
        """The digest of a payload sent for this customerId whose answer never came back."""
        return self.lookup(customer_id)[1]

    def forget(self, customer_id: str) -> None:
        """kelviq no longer has it: nothing accepted (an intent being sent stays)."""
        try:
            self._conn.execute(
                "UPDATE customers SET payload_hash = ? WHERE customer_id = ?", (_NONE, customer_id)
            )
        except sqlite3.OperationalError as exc:
            raise OutputError(f"cannot write the journal {self.path}: {exc}") from None

    def unknown_more_than(self, customer_ids: Iterable[str], limit: int) -> bool:
        """Do more than ``limit`` of these customerIds have nothing accepted in the journal?
        Asked in blocks of 5,000 ids, one query each, and stops as soon as the answer is yes."""
        unknown = 0
        block: list[str] = []

        def count() -> int:
            row = self._conn.execute(
                "SELECT count(*) FROM json_each(?) AS f WHERE NOT EXISTS (SELECT 1 FROM customers c "
                "WHERE c.customer_id = f.value AND c.payload_hash != ?)",
                (json.dumps(block), _NONE),
            ).fetchone()
            block.clear()
            return int(row[0])

        for cid in customer_ids:
            block.append(cid)
            if len(block) >= 5000:
                unknown += count()
                if unknown > limit:
                    return True
        return unknown + (count() if block else 0) > limit

    def absent_since(self, customer_ids: list[str], today: str) -> dict[str, str]:
        """Record that exactly these customers are absent now (``--absent``): each keeps the
        date it was first seen absent, those back in the input are forgotten. Returns the dates."""
        try:
            with self._conn:
                self._conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS now_absent (customer_id TEXT PRIMARY KEY)"
                )
                self._conn.execute("DELETE FROM now_absent")
                self._conn.executemany(
                    "INSERT OR IGNORE INTO now_absent VALUES (?)", ((c,) for c in customer_ids)
                )
                self._conn.execute(
                    "DELETE FROM absent WHERE customer_id NOT IN (SELECT customer_id FROM now_absent)"
                )
                self._conn.execute(
                    "INSERT OR IGNORE INTO absent SELECT customer_id, ? FROM now_absent", (today,)
                )
            return dict(self._conn.execute("SELECT customer_id, since FROM absent").fetchall())
        except sqlite3.OperationalError as exc:
            raise OutputError(f"cannot write the journal {self.path}: {exc}") from None

    def is_new(self) -> bool:
        """Nothing recorded yet, not even an intent: a first run, or a runner with no disk."""
        return self._conn.execute("SELECT 1 FROM customers LIMIT 1").fetchone() is None

    def __len__(self) -> int:
        """Customers with an accepted payload."""
        return int(
            self._conn.execute("SELECT count(*) FROM customers WHERE payload_hash != ?", (_NONE,)).fetchone()[
                0
            ]
        )
