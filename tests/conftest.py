from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest
import respx.mocks

from importer.sandbox import DEFAULT_KEY, SandboxServer
from tests.helpers import DIALECTS, Dialect, RecordingSleep


class _TransportMocker(respx.mocks.Mocker):
    """respx routes answer in place of the importer's transport (importer/transport.py), which
    the client calls without an httpx.AsyncClient: respx's own mockers patch httpcore (under
    httpx's transport) or the AsyncClient, neither of which a run goes through."""

    name = "kelviq-transport"
    targets: ClassVar[list[str]] = ["importer.transport.PhasedTransport"]
    target_methods: ClassVar[list[str]] = ["handle_async_request"]

    @classmethod
    def mock(cls, spec):  # type: ignore[no-untyped-def]
        async def handle_async_request(self, request):  # type: ignore[no-untyped-def]
            return await cls.async_handler(request)

        return handle_async_request


respx.mocks.DEFAULT_MOCKER = _TransportMocker.name


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
    """A throwaway PostgreSQL server for the session (tests/pg_server.py): its SQLAlchemy URL.
    Skipped, saying why, where PostgreSQL or psycopg is not installed (`make test` installs
    Debian's postgresql when it can)."""
    from contextlib import ExitStack

    from tests.pg_server import Unavailable, throwaway_postgres

    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_postgres())
        except Unavailable as why:
            pytest.skip(str(why))
        yield url
