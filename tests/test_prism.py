"""An independent contract check: Stoplight Prism, started from the vendor's spec with request
validation on, receives real imports and must find nothing wrong with any request.

Prism is installed by `make test` (npm, into .tools/prism) where Node.js is there; elsewhere
these tests are skipped and say why. Prism serves the spec's paths at its root (no /api/v1)
and answers with the spec's examples, whose customerId is never the one sent: rows come back
`failed` for that reason, which is not what is checked here. What is checked is Prism's log.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from importer.config import ImportConfig
from importer.pipeline import run_import
from tests.helpers import REFUSED_EMAILS, ROOT, SAMPLE, SHARED_DATA, SPEC, read_csv, write

pytestmark = pytest.mark.e2e  # whole runs: left out of `make test-fast`

PRISM = ROOT / ".tools" / "prism" / "node_modules" / ".bin" / "prism"
PROBES = REFUSED_EMAILS


class Prism:
    def __init__(self, proc: subprocess.Popen[str], log: Path, base_url: str) -> None:
        self.proc, self.log, self.base_url = proc, log, base_url

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def received(self) -> int:
        return self.text().count("Request received")

    def violations(self) -> list[str]:
        return [
            line
            for line in self.text().splitlines()
            if "[VALIDATOR]" in line and ("✖" in line or "did not pass" in line)
        ]


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prism]:
    if not PRISM.exists():
        pytest.skip("Prism is not installed (make test installs it with npm when Node.js is there)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(PRISM), "mock", "--errors", "-h", "127.0.0.1", "-p", str(port), str(SPEC)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = Prism(proc, log, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while "Prism is listening" not in server.text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Prism did not start:\n{server.text()[-2000:]}")
            time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        proc.wait(10)


def config(prism: Prism, source: Path, report: Path, **kw: object) -> ImportConfig:
    return ImportConfig(
        input=source, base_url=prism.base_url, api_key="prism-key", rate=None, report_dir=report, **kw
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["create", "upsert", "update"])
@pytest.mark.parametrize(
    ("source", "mapping"),
    [
        (SAMPLE / "customers.csv", SAMPLE / "mapping.example.toml"),
        (SAMPLE / "customers.xlsx", None),
        (SHARED_DATA / "datablist-customers-20.csv", SAMPLE / "datablist.mapping.toml"),
    ],
)
def test_every_request_passes_prisms_validation(
    prism: Prism, tmp_path: Path, mode: str, source: Path, mapping: Path | None
) -> None:
    before, bad_before = prism.received(), len(prism.violations())
    summary = run_import(config(prism, source, tmp_path / "r", mode=mode, mapping=mapping, use_journal=False))
    sent = sum(v for k, v in summary.counts.items() if k not in ("invalid", "skipped"))
    assert prism.received() - before >= sent > 0  # every valid row reached Prism (+ preflight)
    assert prism.violations()[bad_before:] == []


def test_cleared_fields_pass_prisms_validation(prism: Prism, tmp_path: Path) -> None:
    source = write(tmp_path / "in.csv", "id,email,name,line2,city\nc1,,,,\nc2,,Ada,,Oslo\n")
    bad_before = len(prism.violations())
    run_import(config(prism, source, tmp_path / "r", mode="update", empty="clear", use_journal=False))
    assert prism.violations()[bad_before:] == []


def test_addresses_prism_refuses_never_reach_it(prism: Prism, tmp_path: Path) -> None:
    lines = ["id,email"] + [f'p{i},"{e}"' for i, e in enumerate(PROBES)] + ["idn,user@münchen.de"]
    source = write(tmp_path / "probe.csv", "\n".join(lines) + "\n")
    before, bad_before = prism.received(), len(prism.violations())
    summary = run_import(
        config(prism, source, tmp_path / "r", mode="create", use_journal=False, baseline="journal")
    )
    assert summary.counts.get("invalid") == len(PROBES)
    assert prism.received() - before == 2  # the preflight and the IDNA address, nothing else
    assert prism.violations()[bad_before:] == []
    results = {r["customerId"]: r for r in read_csv(tmp_path / "r" / "results.csv")}
    assert all(re.search("not a valid email address", results[f"p{i}"]["error"]) for i in range(len(PROBES)))
