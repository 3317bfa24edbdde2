"""A throwaway PostgreSQL server: initdb and pg_ctl on a Unix socket in a temporary directory
(no TCP port at all), stopped and removed after. Used by the suite's ``postgres`` fixture and by
``make bench``; where PostgreSQL cannot run here, ``Unavailable`` says why."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Unavailable", "throwaway_postgres"]


class Unavailable(Exception):
    """PostgreSQL (or psycopg) is not installed here, or the server did not start."""


@contextmanager
def throwaway_postgres(port: int = 54329) -> Iterator[str]:
    """The server's SQLAlchemy URL, for the duration of the ``with``."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise Unavailable("psycopg is the [postgres] extra") from None
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or [Path(shutil.which("initdb") or "")]
    initdb = found[-1]
    if not initdb.name:
        raise Unavailable("PostgreSQL is not installed (make test installs Debian's postgresql when root)")
    pg_ctl = initdb.parent / "pg_ctl"
    # initdb refuses to run as root: as root, the server runs as the postgres user, in a
    # directory that user owns (pytest's own temporary directories are root's alone).
    run_as: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="kelviq-pg-"))
    if os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            raise Unavailable("running as root and there is no postgres user to run the server as") from None
        root.chmod(0o755)
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    options = f"-k {root} -p {port} -c listen_addresses='' -c fsync=off"
    try:
        subprocess.run(
            [*run_as, str(initdb), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [*run_as, str(pg_ctl), "-D", str(data), "-w", "-l", str(root / "log"), "-o", options, "start"],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')[-300:]}") from None
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={root}&port={port}"
    finally:
        subprocess.run(
            [*run_as, str(pg_ctl), "-D", str(data), "-m", "fast", "stop"], capture_output=True, timeout=120
        )
        shutil.rmtree(root, ignore_errors=True)
