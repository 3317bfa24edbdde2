"""Runners on one host that send to one account hear each other's rate signals.

A runner cannot see its neighbours: each learns that the account is full only from 429s of its
own, so with eight runners every one of them needs its own refusals, and the account answers
four times as many 429s as for one runner (bench/RESULTS.md). Runners on the same machine with
the same API URL and key share a signal instead: the one that is told to slow down says so,
with the rate it cut to, and the others cut at once, as one runner would. Cutting together
also keeps their shares equal (each cuts the same share of its own rate); a runner far below
the rate told (one that started late) climbs to it instead (ratelimit.py). A runner that
finishes says so too, with its rate, and the others share that rate among those still sending
at once, where they would otherwise wait out a quiet spell to learn it and then probe for it.

A pause the API asked for (a quota window, a limit counted per minute: ratelimit.py) is told
too, with when it ends, and the others send nothing until then: each would otherwise learn of
the window from 429s of its own (eight runners against 10 s quota windows: 7.5-10.9% of
requests refused; model, tests/test_ratelimit.py).

The signal is one small file: its modification time is the last cut (or leaving, or pause), its
text what it was, the rate, and when a pause ends in seconds since the epoch (``cut 12.500``,
``left 12.500``, ``cut 12.500 until 1764555555.250``, ``pause 12.500 until ...``); the epoch,
not the monotonic clock, because it is the one clock every container on the host reads alike.
It is written whole to a temporary name and renamed over the last one (atomic), and read after
``os.stat`` shows another one, so there is no lock, no daemon and no state that a crashed
runner could leave wrong. Beside it each runner keeps an empty presence file under a random
name, touched every ``HEARTBEAT`` seconds while it sends and removed when it finishes: the
runners still sending are those touched within ``FRESH`` seconds (a crashed runner's stops
counting then, and is removed after ``STALE``). They live in a directory of this user's (mode
0700) in the temporary directory, or in ``$KELVIQ_IMPORT_PACE_DIR`` when that is set: runners
in separate containers on one machine each have their own temporary directory and hear each
other only through a volume they share. The files are named by a digest of the API URL and
the key, never the key itself.

They also send as one stream. Each runner spaces its own requests evenly, but eight such
streams with unrelated phases reach the API in clumps, and a limiter that lets no burst through
(a GCRA, nginx's ``limit_req``) refuses the second of two requests a few milliseconds apart:
eight runners on one host held 54-64% of such a limit (real runs; 58-73% in the event model,
where one runner holds 92%). So each runner publishes its rate, and each of its requests takes
the next place in one schedule spaced ``1/(SPACING x the rates' sum)`` apart: the clumps go,
and the group holds 96% of that limit in the event model (92.5-94% in real runs). The
schedule is one row in an SQLite database beside the signal (WAL, 7 microseconds a place on
this machine), taken by a single ``UPDATE ... RETURNING``: the locking between processes is
SQLite's, a well-kept library's, not a protocol of our own. A runner alone pays nothing: it
takes no place while the only rate published is its own.

Runners on different machines (a Kubernetes Job's pods on several nodes) do not hear each other;
they share the limit by AIMD alone (ratelimit.py), which converges to equal shares but costs
more 429s (eight runners: about 3% of requests, where one host stays near 1%).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import secrets
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .logs import event

__all__ = ["PACE_DIR_ENV", "Heard", "Neighbours", "Told", "neighbours_for"]

POLL = 0.02  # seconds between looks at the signal, at most
HEARTBEAT = 2.0  # seconds between touches of a runner's presence file
FRESH = 6.0  # a presence file touched within this many seconds is a runner still sending
STALE = 3600.0  # one untouched for this long is a crashed runner's, and is removed
PACE_DIR_ENV = "KELVIQ_IMPORT_PACE_DIR"  # the signal's directory, when not the temporary one
SPACING = 1.1  # the runners' one stream is spaced for this many times the sum of their rates
PUBLISH = 0.5  # seconds between a runner's publishing of its rate, at most (sooner when it moves)
MOVED = 0.02  # ... a rate that moved by more than this share of itself is published at once
AHEAD = 1.0  # a place given this many seconds ahead or more is a stepped clock's: from now instead
FINEST = 0.001  # places closer than this are finer than an event loop keeps time: none is taken
_NONE = (0, 0)  # the stamp of no signal file


Told = Literal["cut", "left", "pause"]


@dataclass(frozen=True)
class Heard:
    """What another runner told: it cut to ``rate`` on the API's word (``cut``), it finished at
    ``rate`` and sends no more (``left``), or the API asked it to pause and it did not cut
    (``pause``). ``pause``: the seconds, from when it was read, that the teller sends nothing
    because the API asked it to wait (0.0: none). ``rate`` is 0.0 when it did not say (a runner
    of an earlier version leaves the file empty)."""

    rate: float = 0.0
    kind: Told = "cut"
    pause: float = 0.0


class Neighbours:
    """``tell(rate)`` after a cut made on the API's own word, ``tell(rate, kind="left")`` when
    this runner is done, ``pause=`` the seconds it sends nothing because the API asked it to
    wait; ``heard()`` gives, once for each signal another runner gave since the last look, what
    it said, else None."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen = self._stamp()
        self._next_look = 0.0
        # A random name, not the pid: runners in containers sharing a pace dir share pids.
        self._here = path.with_name(f"{path.name}.here-{secrets.token_hex(8)}")
        self._touched = -math.inf
        self._touch()
        self._stream: _Stream | None = None
        with contextlib.suppress(sqlite3.Error):  # a read-only or full disk: the runner paces itself
            self._stream = _Stream(path.with_name(f"{path.name}.stream"))
        self._published = 0.0
        self._published_at = -math.inf
        self._sharing = 0.0  # the sum of the rates published, when another runner's is among them

    def present(self) -> int:
        """The runners on this signal still sending, this one included."""
        now = time.time()
        count = 0
        for here in self.path.parent.glob(f"{self.path.name}.here-*"):
            try:
                age = now - here.stat().st_mtime
                if age <= FRESH:
                    count += 1
                elif age > STALE:
                    here.unlink()
            except OSError:
                continue  # gone since the listing
        return max(1, count)

    def _touch(self) -> None:
        try:
            self._here.touch(mode=0o600)
        except OSError:
            return
        self._touched = time.monotonic()

    def tell(self, rate: float, *, kind: Told = "cut", pause: float = 0.0) -> None:
        if kind == "left":
            self._touched = math.inf  # and never touched again
            with contextlib.suppress(OSError):
                self._here.unlink(missing_ok=True)
            if self._stream is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._stream.leave(self._here.name)
                self._stream = None
        fresh = self.path.with_name(f"{self.path.name}.{os.getpid()}")
        try:
            fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                until = f" until {time.time() + pause:.3f}" if pause > 0 else ""
                out.write(f"{kind} {rate:.3f}{until}")
            fresh.replace(self.path)  # atomic: a reader sees the old text or the new, whole
            self._seen = self._stamp()  # our own signal is not news to us
        except OSError:
            pass  # a read-only or full disk: the runner still paces itself

    def place(self, rate: float) -> float:
        """Seconds from now to the place of this runner's next request in the one stream of the
        runners still sending on this signal (``rate``: this runner's); 0.0 when it is alone."""
        if self._stream is None:
            return 0.0
        try:
            moment = time.monotonic()
            if (
                moment - self._published_at >= PUBLISH
                or abs(rate - self._published) > MOVED * self._published
            ):
                self._sharing = self._stream.publish(self._here.name, rate, time.time())
                self._published, self._published_at = rate, moment
            step = 1.0 / (SPACING * self._sharing) if self._sharing else 0.0
            if step < FINEST:
                return 0.0  # alone, or so fast together that a database write a request buys nothing
            now = time.time()
            return max(0.0, self._stream.take(step, now) - now)
        except sqlite3.Error:
            self._stream = None  # a locked or broken database: the runner paces itself
            return 0.0

    def heard(self, now: float) -> Heard | None:
        if now < self._next_look:
            return None
        self._next_look = now + POLL
        if time.monotonic() - self._touched >= HEARTBEAT:
            self._touch()
        stamp = self._stamp()
        if stamp in (self._seen, _NONE):
            return None  # the same signal, or none at all
        self._seen = stamp
        try:
            said = self.path.read_text().split()
        except OSError:
            return Heard()  # told, but not what (gone since the stat)
        kind: Told = "left" if said[:1] == ["left"] else "pause" if said[:1] == ["pause"] else "cut"
        rate = _positive(said[1]) if len(said) in (2, 4) else 0.0
        pause = _positive(said[3]) - time.time() if len(said) == 4 and said[2] == "until" else 0.0
        return Heard(rate, kind=kind, pause=max(0.0, pause))

    def _stamp(self) -> tuple[int, int]:
        """Which signal the file holds: each is a new file (renamed into place), so a new inode,
        where the modification time alone may repeat (a kernel's coarse clock ticks every few
        milliseconds, and two runners may tell within one tick)."""
        try:
            info = self.path.stat()
        except OSError:
            return _NONE
        return (info.st_mtime_ns, info.st_ino)


class _Stream:
    """The runners' one schedule and the rates they published, in an SQLite database beside the
    signal; times are seconds since the epoch, as the signal's. Each statement is a transaction
    of its own, so SQLite's lock is held for microseconds."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, timeout=1.0, check_same_thread=False)
        # A write-ahead log: 7 microseconds a place on this machine, where a rollback journal took 21.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")  # a schedule, not a record: nothing to keep over a crash
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS place (id INTEGER PRIMARY KEY CHECK (id = 0), next REAL NOT NULL);"
            "INSERT OR IGNORE INTO place VALUES (0, 0.0);"
            "CREATE TABLE IF NOT EXISTS rate (runner TEXT PRIMARY KEY, rate REAL NOT NULL, at REAL NOT NULL);"
        )

    def publish(self, runner: str, rate: float, now: float) -> float:
        """This runner's rate, published; the sum of the rates of the runners still sending, or
        0.0 when this one is alone."""
        self._db.execute(
            "INSERT INTO rate VALUES (?1, ?2, ?3) ON CONFLICT (runner) DO UPDATE SET rate = ?2, at = ?3",
            (runner, rate, now),
        )
        # A runner that crashed, or waits out a long pause, publishes nothing: its rate lapses.
        self._db.execute("DELETE FROM rate WHERE at < ?", (now - FRESH,))
        ((total, runners),) = self._db.execute("SELECT TOTAL(rate), COUNT(*) FROM rate").fetchall()
        return float(total) if runners > 1 else 0.0

    def leave(self, runner: str) -> None:
        self._db.execute("DELETE FROM rate WHERE runner = ?", (runner,))

    def take(self, step: float, now: float) -> float:
        """The next place from ``now`` on; the one after it is ``step`` later."""
        ((after,),) = self._db.execute(
            "UPDATE place SET next = CASE WHEN next > ?1 + ?3 THEN ?1 ELSE MAX(next, ?1) END + ?2 "
            "WHERE id = 0 RETURNING next",
            (now, step, AHEAD),
        ).fetchall()
        return float(after) - step


def _positive(text: str) -> float:
    """A number another runner wrote, or 0.0 when it is none (a file written by somebody else)."""
    try:
        number = float(text)
    except ValueError:
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def neighbours_for(base_url: str, api_key: str, directory: Path | None = None) -> Neighbours | None:
    """The signal shared by runners of this user on this host with this URL and key; None when
    no private directory can be made (the runner then paces alone)."""
    digest = hashlib.sha256(f"kelviq-import pace\0{base_url}\0{api_key}".encode()).hexdigest()[:24]
    uid = getattr(os, "getuid", lambda: 0)()
    shared = os.environ.get(PACE_DIR_ENV)
    folder = directory or (Path(shared) if shared else Path(tempfile.gettempdir()) / f"kelviq-import-{uid}")
    try:
        folder.mkdir(mode=0o700, parents=bool(shared), exist_ok=True)
        info = folder.stat()
        private = info.st_uid == uid and not info.st_mode & 0o077
    except OSError:
        private = False
    if private:
        return Neighbours(folder / f"pace-{digest}")
    if shared and directory is None:
        # Asked for by name: say why the runners will not hear each other.
        event(
            logging.WARNING,
            "pace_dir_unusable",
            f"{PACE_DIR_ENV}={shared}: not a directory of this user's with mode 0700; "
            "this runner paces alone",
        )
    return None  # somebody else's directory, or open to others: not ours to trust
