"""The pieces of the migration loop one by one: value maps, [input], unused columns, --limit,
report roots and `runs`, the shared journal location. API behaviour relied on: the sandbox's
create (201 with the customer) only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from importer.cli import main
from importer.config import ImportConfig
from importer.journal import default_state_path
from importer.pipeline import run_import
from importer.sandbox import SandboxServer
from tests.helpers import SAMPLE, read_csv, write

KEY = "sandbox-demo-key"


def invoke(*args: str | Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, [str(a) for a in args], env={"KELVIQ_API_KEY": KEY, **(env or {})})


def test_a_value_map_translates_values_and_can_refuse_the_rest(tmp_path: Path) -> None:
    mapping = write(
        tmp_path / "m.toml",
        '[fields]\ncustomerId = "id"\n'
        '[metadata]\nplan = { column = "Plan", map = { "VIP" = "gold", "Std" = "standard" }, '
        'unmapped = "invalid" }\n'
        'tier = { column = "Tier", map = { "a" = "top" } }\n',
    )
    source = write(tmp_path / "in.csv", "id,Plan,Tier\n1, vip ,a\n2,Std,b\n3,Free,a\n")
    result = invoke(
        "validate", source, "--mapping", mapping, "--preview", "5", "--report-dir", tmp_path / "r"
    )
    rows = {r["customerId"]: r for r in read_csv(tmp_path / "r" / "results.csv")}
    assert rows["1"]["status"] == rows["2"]["status"] == "valid" and rows["3"]["status"] == "invalid"
    assert "'Free' has no entry in the mapping's map" in rows["3"]["error"]
    assert '"plan": "gold", "tier": "top"' in result.output  # matched ignoring case and spaces
    assert '"plan": "standard", "tier": "b"' in result.output  # unmapped = keep (the default)


def test_input_settings_in_the_mapping_and_flags_win(tmp_path: Path) -> None:
    raw = "Export;;\r\nid;name;Land\r\n1;Zoë;Österreich\r\n".encode("cp1252")
    source = tmp_path / "de.csv"
    source.write_bytes(raw)
    mapping = write(
        tmp_path / "m.toml",
        '[input]\nencoding = "cp1252"\ndelimiter = ";"\nheader_row = 2\nsheet = "Ignored for CSV"\n'
        '[fields]\ncustomerId = "id"\nname = "name"\nbillingAddress.country = "Land"\n',
    )
    ok = invoke("validate", source, "--mapping", mapping, "--preview", "1", "--report-dir", tmp_path / "a")
    assert ok.exit_code == 0, ok.output
    assert '"name": "Zoë"' in ok.output and '"country": "AT"' in ok.output
    overridden = invoke(
        "validate", source, "--mapping", mapping, "--header-row", "1", "--report-dir", tmp_path / "b"
    )
    assert overridden.exit_code == 2 and "'id'" in overridden.output  # the flag won: row 1 has no id column


def test_unused_columns_are_named_everywhere(tmp_path: Path) -> None:
    result = invoke("validate", SAMPLE / "customers.csv", "--report-dir", tmp_path / "r")
    assert "not sent anywhere: 'Company', 'Plan', 'Signup Date'" in result.output
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["unused_columns"] == ["Company", "Plan", "Signup Date"]
    with_all = write(
        tmp_path / "m.toml", '[fields]\ncustomerId = "Customer ID"\n[other_columns]\nto_metadata = true\n'
    )
    quiet = invoke(
        "validate", SAMPLE / "customers.csv", "--mapping", with_all, "--report-dir", tmp_path / "s"
    )
    assert "not sent anywhere" not in quiet.output


@pytest.mark.e2e  # starts a process or a sandbox
def test_limit_sends_only_the_first_rows(tmp_path: Path) -> None:
    source = write(tmp_path / "in.csv", "id,name\n" + "".join(f"L{i},N{i}\n" for i in range(30)))
    with SandboxServer() as server:
        summary = run_import(
            ImportConfig(input=source, base_url=server.base_url, api_key=KEY, rate=None, limit=5,
                         use_journal=False, report_dir=tmp_path / "r")
        )  # fmt: skip
        assert summary.counts == {"created": 5, "not_sent": 25} and summary.exit_code == 0
        assert sorted(server.app.customers) == [f"L{i}" for i in range(5)]
    reasons = {r["error"] for r in read_csv(tmp_path / "r" / "results.csv") if r["status"] == "not_sent"}
    assert reasons == {"not sent: a trial run (--limit 5)"}


def test_every_run_gets_its_own_report_and_runs_lists_them(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    for _ in range(3):
        invoke("validate", SAMPLE / "customers.csv", "--report-root", root, "--quiet")
    assert len([d for d in root.iterdir() if d.is_dir()]) == 3
    listing = invoke("runs", "--report-root", root)
    lines = listing.output.strip().splitlines()
    assert len(lines) == 3 and all(
        "exit 1  validate customers.csv: invalid 7, valid 293" in line for line in lines
    )
    both = invoke("validate", SAMPLE / "customers.csv", "--report-root", root, "--report-dir", tmp_path / "x")
    assert both.exit_code == 2 and "contradict" in both.output


@pytest.mark.e2e  # starts a process or a sandbox
def test_one_journal_for_every_user_of_a_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KELVIQ_IMPORT_STATE", str(tmp_path / "shared"))
    path = default_state_path("https://api.kelviq.com/api/v1")
    assert path.parent == tmp_path / "shared" and path.name == "api.kelviq.com_api_v1.sqlite3"
    with SandboxServer() as server:
        source = write(tmp_path / "in.csv", "id,name\nj1,One\n")
        args = ("run", source, "--base-url", server.base_url, "--report-root", tmp_path / "r")
        first = invoke(*args)
        assert "journal: " + str(tmp_path / "shared") in first.output
        again = invoke(*args, "--quiet")  # another user, same machine: nothing sent again
        assert "unchanged 1" in again.output and server.app.requests["POST"] == 1


@pytest.mark.e2e  # starts a process or a sandbox
def test_stdin_and_pipes_are_read_like_the_file(tmp_path: Path) -> None:
    """`cat export.csv | kelviq-import run -`: spooled once, then read twice like a file."""
    import subprocess
    import sys

    def validate(*args: str, stdin: bytes) -> list[tuple[str, str]]:
        report = tmp_path / f"r{len(list(tmp_path.iterdir()))}"
        subprocess.run(
            [sys.executable, "-m", "importer", "validate", *args, "--report-dir", str(report)],
            input=stdin, capture_output=True, timeout=60,
        )  # fmt: skip
        return [(r["row"], r["status"]) for r in read_csv(report / "results.csv")]

    data = (SAMPLE / "customers.csv").read_bytes()
    from_file = validate(str(SAMPLE / "customers.csv"), stdin=b"")
    assert validate("-", stdin=data) == from_file
    assert validate("/dev/stdin", stdin=data) == from_file
    tsv = data.decode().replace(",", "\t").encode()  # the sample has no quoted commas in use
    assert len(validate("-", "--format", "tsv", stdin=tsv)) == len(from_file)
    no_suffix = write(tmp_path / "export", data.decode())
    assert validate(str(no_suffix), "--format", "csv", stdin=b"") == from_file
