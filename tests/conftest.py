from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from importer.sandbox import DEFAULT_KEY, SandboxOptions, SandboxServer

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
SHARED_DATA = Path(__file__).parent / "data"  # copies of ../shared/data (see SOURCES.md)
SPEC = Path(__file__).parent / "data" / "kelviq-customers-openapi.json"


# Addresses the spec's validators refuse (ajv's "email" format in Prism, Django's EmailValidator).
REFUSED_EMAILS = [
    "zoë@example.com",
    "a..b@example.com",
    ".lead@example.com",
    "user@exa_mple.com",
    "user@-example.com",
    "a,b@example.com",
    "<angle@example.com>",
]


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


@dataclass(frozen=True)
class Dialect:
    """How the API says "already exists" and "no such customer". The spec declares neither:
    kelviq's SDK points at Django REST framework (400 field error; 404), other services say
    409, or 400 with a message. Suites that depend on either run against both."""

    duplicate_style: str
    unknown_style: str

    def options(self, **kw: Any) -> SandboxOptions:
        return SandboxOptions(duplicate_style=self.duplicate_style, unknown_style=self.unknown_style, **kw)

    @property
    def args(self) -> tuple[str, ...]:
        return ("--duplicate-style", self.duplicate_style, "--unknown-style", self.unknown_style)


DIALECTS = {
    "drf": Dialect(duplicate_style="drf400", unknown_style="404"),
    "409": Dialect(duplicate_style="409", unknown_style="400"),
}


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


class RecordingSleep:
    """Stands in for asyncio.sleep: records how long the client wanted to wait, waits not."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def no_sleep() -> RecordingSleep:
    return RecordingSleep()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def schema(name: str) -> dict[str, Any]:
    """A component of the vendor's OpenAPI 3.0 spec as plain JSON Schema (nullable, $ref)."""
    spec = json.loads(SPEC.read_text())
    components = spec["components"]["schemas"]

    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return convert(components[node["$ref"].rsplit("/", 1)[1]])
            out = {k: convert(v) for k, v in node.items() if k not in ("nullable", "example", "readOnly")}
            if node.get("nullable") and "type" in node:
                out["type"] = [node["type"], "null"]
            return out
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node

    return convert(components[name])
