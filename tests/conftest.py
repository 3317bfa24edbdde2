from __future__ import annotations

from collections.abc import Iterator

import pytest

from importer.sandbox import DEFAULT_KEY, SandboxServer
from tests.helpers import DIALECTS, Dialect, RecordingSleep


@pytest.fixture(autouse=True)
def _no_traceback_ever(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command run through CliRunner in the suite: a traceback is a failed test."""
    from click.testing import CliRunner

    invoke = CliRunner.invoke

    def checked(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = invoke(self, *args, **kwargs)
        assert "Traceback" not in result.output, result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"the command raised {result.exception!r}") from result.exception
        return result

    monkeypatch.setattr(CliRunner, "invoke", checked)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """What tests print to the real stdout/stderr has no traceback: checked on every test."""
    report = yield
    if report.when == "call" and report.passed:
        for _name, text in report.sections:
            if "Traceback (most recent call last)" in text:
                report.outcome = "failed"
                report.longrepr = f"a traceback was printed during {item.nodeid}:\n{text[-2000:]}"
    return report


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Journals go to a fresh directory per test, never to the real ~/.local/state."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def _fast_lane_starts_nothing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test not marked e2e starts no process and no sandbox server: `make test-fast` is the
    edit-test loop, and must stay seconds long and free of ports and children."""
    if request.node.get_closest_marker("e2e") is not None:
        return
    import subprocess

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test outside the e2e lane started a process: mark it e2e")

    monkeypatch.setattr(subprocess.Popen, "__init__", refused)
    monkeypatch.setattr(SandboxServer, "__enter__", refused)


@pytest.fixture(params=list(DIALECTS))
def dialect(request: pytest.FixtureRequest) -> Dialect:
    return DIALECTS[request.param]


@pytest.fixture
def sandbox(dialect: Dialect) -> Iterator[SandboxServer]:
    """The sandbox on loopback, once in each dialect."""
    with SandboxServer(dialect.options(seed=1)) as server:
        yield server


@pytest.fixture
def api_key() -> str:
    return DEFAULT_KEY


@pytest.fixture
def no_sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server for the session: initdb and pg_ctl on a Unix socket in a
    temporary directory (no TCP port at all), stopped and removed after. Its SQLAlchemy URL.
    Skipped, saying why, where PostgreSQL or psycopg is not installed (`make test` installs
    Debian's postgresql when it can)."""
    import os
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    pytest.importorskip("psycopg", reason="psycopg is the [postgres] extra")
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or [Path(shutil.which("initdb") or "")]
    initdb = found[-1]
    if not initdb.name:
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql when root)")
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
            pytest.skip("running as root and there is no postgres user to run the server as")
        root.chmod(0o755)
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", "54329"
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
        pytest.skip(f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')[-300:]}")
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={root}&port={port}"
    finally:
        subprocess.run(
            [*run_as, str(pg_ctl), "-D", str(data), "-m", "fast", "stop"], capture_output=True, timeout=120
        )
        shutil.rmtree(root, ignore_errors=True)
