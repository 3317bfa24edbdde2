"""Whole runs against the bundled sandbox on loopback: what lands on the server and in the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from importer.cli import main
from importer.config import ImportConfig
from importer.pipeline import run_import
from importer.sandbox import SandboxServer
from tests.helpers import SAMPLE, SHARED_DATA, read_csv, write

pytestmark = pytest.mark.e2e  # whole runs: left out of `make test-fast`

SAMPLE_BAD_ROWS = {18, 43, 79, 122, 151, 152, 235}


def config(server: SandboxServer, key: str, tmp_path: Path, input: Path, **kw) -> ImportConfig:  # type: ignore[no-untyped-def]
    return ImportConfig(
        input=input, base_url=server.base_url, api_key=key, rate=None, report_dir=tmp_path / "report", **kw
    )


@pytest.mark.parametrize("name", ["customers.csv", "customers.xlsx"])
def test_sample_import_creates_exactly_the_valid_rows_once(sandbox, api_key, tmp_path, name) -> None:  # type: ignore[no-untyped-def]
    summary = run_import(
        config(sandbox, api_key, tmp_path, SAMPLE / name, mapping=SAMPLE / "mapping.example.toml")
    )
    results = read_csv(tmp_path / "report" / "results.csv")
    # One line per input row, each row once.
    assert sorted(int(r["row"]) for r in results) == list(range(2, 302))
    by_status: dict[str, set[int]] = {}
    for r in results:
        by_status.setdefault(r["status"], set()).add(int(r["row"]))
    assert by_status["invalid"] == SAMPLE_BAD_ROWS
    assert set(by_status) == {"created", "invalid"}
    created = [r for r in results if r["status"] == "created"]
    # The server holds exactly the valid rows, each created once, with our ids.
    app = sandbox.app
    assert set(app.customers) == {r["customerId"] for r in created}
    assert len(created) == 293 and max(app.creates_by_id.values()) == 1
    assert all(app.customers[r["customerId"]]["id"] == r["kelviq_id"] for r in created)
    assert app.customers["CUST-00001"]["billingAddress"]["postalCode"] == "07102"
    assert app.customers["CUST-00001"]["metadata"]["source"] == "legacy_crm"
    # failed.csv gives every invalid row back with its original cells and a reason.
    failed = read_csv(tmp_path / "report" / "failed.csv")
    assert len(failed) == 7 and all(f["kelviq_import_error"] for f in failed)
    assert {int(f["kelviq_import_row"]) for f in failed} == SAMPLE_BAD_ROWS  # the lines to fix
    assert {f["Customer ID"] for f in failed} >= {"CUST-00017", "CUST-00078", "CUST-00150"}
    summary_json = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary_json["counts"] == {"created": 293, "invalid": 7}
    assert summary_json["rows"] == 300 and len(summary_json["input_sha256"]) == 64
    assert summary.exit_code == 1


def test_failed_csv_can_be_fixed_and_fed_back(sandbox, api_key, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run_import(
        config(sandbox, api_key, tmp_path, SAMPLE / "customers.csv", mapping=SAMPLE / "mapping.example.toml")
    )
    failed = (tmp_path / "report" / "failed.csv").read_text(encoding="utf-8")
    fixed = failed.replace("maria.at.example.com", "maria@example.com").replace("Narnia", "NO")
    fix_path = write(tmp_path / "fixed.csv", fixed)
    second = run_import(
        ImportConfig(
            input=fix_path,
            base_url=sandbox.base_url,
            api_key=api_key,
            rate=None,
            report_dir=tmp_path / "again",
            mapping=SAMPLE / "mapping.example.toml",
        )
    )
    assert second.counts == {"created": 2, "invalid": 5}
    assert sandbox.app.customers["CUST-00017"]["email"] == "maria@example.com"


def test_shared_datablist_file_imports_as_is_and_with_its_mapping(sandbox, api_key, tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = SHARED_DATA / "datablist-customers-20.csv"
    plain = run_import(config(sandbox, api_key, tmp_path, source))
    assert plain.counts == {"created": 20} and plain.exit_code == 0
    sandbox.app.customers.clear()
    mapped = run_import(
        ImportConfig(
            input=source,
            base_url=sandbox.base_url,
            api_key=api_key,
            rate=None,
            report_dir=tmp_path / "mapped",
            mapping=SAMPLE / "datablist.mapping.toml",
        )
    )
    assert mapped.counts == {"created": 20}
    first = sandbox.app.customers["0yJn77tfsE"]
    assert first["billingAddress"] == {"city": "West Alexfort", "country": "FK"}
    assert first["metadata"]["company"] == "Gillespie, Chapman and Evans"
    assert first["metadata"]["phone"] == "+1-940-986-3836x4639"


def test_refused_key_aborts_before_any_row_is_sent(sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    summary = run_import(config(sandbox, "wrong-key", tmp_path, SAMPLE / "customers.csv"))
    assert summary.exit_code == 3 and "401" in (summary.aborted or "")
    assert sandbox.app.requests["total"] == 1 and not sandbox.app.customers
    results = read_csv(tmp_path / "report" / "results.csv")
    assert len(results) == 300  # every row still accounted for
    assert {r["status"] for r in results} == {"not_sent", "invalid"}  # not sent is not "to fix"


def test_sandbox_faults_are_retried_to_completion(dialect, tmp_path, api_key) -> None:  # type: ignore[no-untyped-def]
    with SandboxServer(dialect.options(fault_rate=0.3, seed=7)) as server:
        cfg = ImportConfig(
            input=SAMPLE / "customers.csv",
            base_url=server.base_url,
            api_key=api_key,
            rate=None,
            report_dir=tmp_path / "r",
            mapping=SAMPLE / "mapping.example.toml",
            retry=__import__("importer.client").client.RetryPolicy(
                attempts=20, backoff_initial=0.001, backoff_max=0.01
            ),
        )
        summary = run_import(cfg)
        failed = [r for r in read_csv(tmp_path / "r" / "results.csv") if r["status"] == "failed"]
        assert summary.counts == {"created": 293, "invalid": 7}, [
            (r["row"], r["attempts"], r["error"]) for r in failed
        ]
        assert server.app.requests["500"] + server.app.requests["503"] > 20
        assert len(server.app.customers) == 293
    retried = [r for r in read_csv(tmp_path / "r" / "results.csv") if r["attempts"] not in ("0", "1")]
    assert retried and summary.retries >= len(retried)


def test_cli_run_against_the_sandbox_command(tmp_path: Path) -> None:
    """The real `kelviq-import sandbox` process, and `kelviq-import run` pointed at it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("  base URL: "):
                url = line.split(": ", 1)[1].strip()
                break
        assert url.startswith("http://127.0.0.1:")
        runner = CliRunner()
        result = runner.invoke(
            main,
            [
                "run",
                str(SHARED_DATA / "datablist-customers-20.csv"),
                "--base-url",
                url,
                "--report-dir",
                str(tmp_path / "rep"),
                "--rate",
                "0",
            ],
            env={"KELVIQ_API_KEY": "sandbox-demo-key"},
        )
        assert result.exit_code == 0, result.output
        assert "created 20" in result.output
        assert "sandbox-demo-key" not in result.output
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    for report in (tmp_path / "rep").iterdir():
        assert "sandbox-demo-key" not in report.read_text()


def test_failed_csv_keeps_the_inputs_encoding_and_delimiter(sandbox, api_key, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A European Excel export: cp1252, semicolons. The fixed failed.csv goes back in with the
    # very same options, and the user's cells come back byte for byte.
    source = tmp_path / "export.csv"
    rows = "Kundennummer;Name;E-Mail\r\nK-1;Zoë Müller;zoe@example.de\r\n"
    rows += "K-2;François Lefèvre;francois(at)example.fr\r\n"
    source.write_bytes(rows.encode("cp1252"))

    def run_cp1252(path: Path, report: str):  # type: ignore[no-untyped-def]
        return run_import(
            ImportConfig(
                input=path,
                base_url=sandbox.base_url,
                api_key=api_key,
                rate=None,
                encoding="cp1252",
                report_dir=tmp_path / report,
                use_journal=False,
            )
        )

    first = run_cp1252(source, "r1")
    assert first.counts == {"created": 1, "invalid": 1}
    raw = (tmp_path / "r1" / "failed.csv").read_bytes()
    assert raw.startswith(b"Kundennummer;Name;E-Mail;kelviq_import_row;kelviq_import_error\r\n")
    assert "K-2;François Lefèvre;francois(at)example.fr;".encode("cp1252") in raw
    fixed = tmp_path / "fixed.csv"
    fixed.write_bytes(raw.replace(b"francois(at)example.fr", b"francois@example.fr"))
    second = run_cp1252(fixed, "r2")
    assert second.counts == {"created": 1}
    assert sandbox.app.customers["K-2"]["name"] == "François Lefèvre"
