"""The migration loop, closed: init-mapping -> validate -> run -> fix failed.csv (twice) -> verify.

A German CRM export as it arrives: cp1252, semicolons, two title lines above the header,
country names in German, bad e-mails, a blank and a duplicate customer number. API behaviour
relied on: the sandbox in both dialects (a duplicate POST refused as 400 or 409).
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from importer.cli import main
from importer.sandbox import SandboxOptions, SandboxServer
from tests.helpers import Dialect

pytestmark = pytest.mark.e2e  # whole runs: left out of `make test-fast`

KEY = "sandbox-demo-key"
LANDS = ["Deutschland", "Österreich", "Schweiz", "Frankreich"]
CODES = {"Deutschland": "DE", "Österreich": "AT", "Schweiz": "CH", "Frankreich": "FR"}
BAD_EMAIL_ROWS = {10, 40, 77}  # 0-based record numbers with an e-mail like "kunde(at)firma.de"


def german_export(path: Path, n: int = 200) -> Path:
    out = io.StringIO()
    out.write("Kundenexport CRM;;;;;;\r\nStand: 2026-11-01;;;;;;\r\n")
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(["Kundennr", "Firma", "E-Mail", "Straße", "PLZ", "Ort", "Land"])
    for i in range(n):
        cid = f"K{i:04d}"
        if i == 5:
            cid = ""  # a blank customer number
        if i == 120:
            cid = "K0119"  # the same number as the row before: two customers, one typo
        email = f"kunde{i}(at)firma.de" if i in BAD_EMAIL_ROWS else f"kunde{i}@firma.de"
        w.writerow(
            [cid, f"Müller & Söhne {i}", email, f"Hauptstraße {i}", f"{10000 + i}", "Köln", LANDS[i % 4]]
        )
    path.write_bytes(out.getvalue().encode("cp1252"))
    return path


def line_of(record: int) -> int:
    return record + 4  # two title lines and the header above record 0


def invoke(*args: str | Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, [str(a) for a in args], env={"KELVIQ_API_KEY": KEY, **(env or {})})


def edit_failed(path: Path, fix) -> Path:  # type: ignore[no-untyped-def]
    """A person fixing failed.csv in a spreadsheet: same encoding and delimiter, rows edited."""
    text = path.read_bytes().decode("cp1252")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    header, body = rows[0], rows[1:]
    fixed = [fix(dict(zip(header, row, strict=True))) for row in body]
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(header)
    w.writerows([[r[h] for h in header] for r in fixed if r is not None])
    target = path.parent.parent / f"fixed-{path.parent.name}.csv"
    target.write_bytes(out.getvalue().encode("cp1252"))
    return target


def test_the_whole_loop_on_a_german_export(dialect: Dialect, tmp_path: Path) -> None:
    legacy = german_export(tmp_path / "legacy.csv")
    # 1. init-mapping, told once how to read the file; the mapping keeps it in [input].
    draft = invoke("init-mapping", legacy, "--encoding", "cp1252", "--header-row", "3")
    assert draft.exit_code == 0, draft.output
    assert 'encoding = "cp1252"' in draft.output and "header_row = 3" in draft.output
    assert 'name = "Firma"' in draft.output
    mapping = tmp_path / "mapping.toml"
    # Every other column into metadata: the error column of failed.csv must never go there.
    mapping.write_text(draft.output.replace("to_metadata = false", "to_metadata = true"), encoding="utf-8")

    # 2. validate: no flags any more, German country names understood.
    checked = invoke("validate", legacy, "--mapping", mapping, "--report-root", tmp_path / "reports")
    assert checked.exit_code == 1, checked.output
    assert "200 rows (cp1252, ';'-separated, header on row 3): 194 valid, 6 invalid" in checked.output
    assert "'kunde10(at)firma.de'" in checked.output  # the wrong values, shown

    with SandboxServer(dialect.options()) as server:
        base = ["--mapping", str(mapping), "--base-url", server.base_url, "--rate", "0"]
        # 3. run.
        first = invoke("run", legacy, *base, "--report-dir", tmp_path / "round1")
        assert first.exit_code == 1, first.output
        assert len(server.app.customers) == 194
        failed1 = tmp_path / "round1" / "failed.csv"
        rows1 = list(csv.DictReader(io.StringIO(failed1.read_bytes().decode("cp1252")), delimiter=";"))
        assert sorted(int(r["kelviq_import_row"]) for r in rows1) == sorted(
            line_of(i) for i in (5, 119, 120, *BAD_EMAIL_ROWS)
        )
        assert list(rows1[0]) == ["Kundennr", "Firma", "E-Mail", "Straße", "PLZ", "Ort", "Land",
                                  "kelviq_import_row", "kelviq_import_error"]  # fmt: skip

        # 4. round one: fix the blank id, the duplicate and two of the three e-mails.
        def round_one(row: dict[str, str]) -> dict[str, str]:
            line = int(row["kelviq_import_row"])
            if line == line_of(5):
                row["Kundennr"] = "K0005"
            if line == line_of(120):
                row["Kundennr"] = "K0120"
            if line in (line_of(10), line_of(40)):
                row["E-Mail"] = row["E-Mail"].replace("(at)", "@")
            return row

        fixed1 = edit_failed(failed1, round_one)
        second = invoke("run", fixed1, *base, "--report-dir", tmp_path / "round2")  # the same command
        assert second.exit_code == 1, second.output
        rows2 = list(
            csv.DictReader(
                io.StringIO((tmp_path / "round2" / "failed.csv").read_bytes().decode("cp1252")), delimiter=";"
            )
        )
        assert [int(r["kelviq_import_row"]) for r in rows2] == [line_of(77)]  # still the original line
        assert list(rows2[0]).count("kelviq_import_error") == 1  # never stacked

        # 5. round two.
        fixed2 = edit_failed(
            tmp_path / "round2" / "failed.csv", lambda r: {**r, "E-Mail": "kunde77@firma.de"}
        )
        third = invoke("run", fixed2, *base, "--report-dir", tmp_path / "round3")
        assert third.exit_code == 0, third.output
        assert len(server.app.customers) == 200 and max(server.app.creates_by_id.values()) == 1

        # 6. verify the migration over every file: legacy first, fixes after.
        proof = invoke("verify", legacy, fixed1, fixed2, *base, "--report-dir", tmp_path / "proof")
        assert proof.exit_code == 0, proof.output
        assert "all in kelviq and the same: match 200" in proof.output
        # The legacy file alone cannot prove it: its 5 broken rows cannot be checked.
        alone = invoke("verify", legacy, *base, "--report-dir", tmp_path / "alone")
        assert (
            alone.exit_code == 1 and "invalid 5" in alone.output
        )  # blank id, 3 e-mails, the duplicate (the later one stands)

        customers = server.app.customers
        assert customers["K0002"]["billingAddress"]["country"] == CODES[LANDS[2]]
        assert (
            customers["K0120"]["metadata"] == {}
            or "kelviq_import_error" not in customers["K0120"]["metadata"]
        )
        for record in customers.values():
            meta = record.get("metadata") or {}
            assert not any("error" in k or "kelviq_import" in k for k in meta), meta
        assert customers["K0077"]["email"] == "kunde77@firma.de"

        # 7. A customer changed in kelviq since: verify names the field.
        customers["K0003"]["email"] = "someone@else.de"
        changed = invoke("verify", legacy, fixed1, fixed2, *base, "--report-dir", tmp_path / "changed")
        assert changed.exit_code == 1
        detail = (tmp_path / "changed" / "verify.csv").read_text(encoding="utf-8")
        assert "email: file 'kunde3@firma.de', kelviq 'someone@else.de'" in detail


def quiet_run(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "importer", *args, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), **env},
    )


def test_quiet_prints_exactly_one_line_for_every_exit_code(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("id,name\n" + "".join(f"q{i},Name {i}\n" for i in range(3000)), encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,email\nb1,not-an-email\n", encoding="utf-8")
    seen: dict[int, str] = {}
    with SandboxServer() as server, SandboxServer(SandboxOptions(latency_ms=20)) as slow:
        env = {"KELVIQ_API_KEY": KEY}
        cases = [
            (
                "run",
                str(good),
                "--base-url",
                server.base_url,
                "--rate",
                "0",
                "--journal",
                str(tmp_path / "j"),
            ),
            ("run", str(bad), "--base-url", server.base_url, "--no-journal"),
            ("run", str(tmp_path / "missing.csv"), "--base-url", server.base_url),
        ]
        for args in cases:
            proc = quiet_run(*args, env=env)
            out, err = proc.communicate(timeout=120)
            seen[proc.returncode] = out + err
        proc = quiet_run(
            "run", str(good), "--base-url", server.base_url, "--no-journal", env={"KELVIQ_API_KEY": "wrong"}
        )
        out, err = proc.communicate(timeout=60)
        seen[proc.returncode] = out + err
        for sig in (signal.SIGINT, signal.SIGTERM):
            proc = quiet_run(
                "run", str(good), "--base-url", slow.base_url, "--rate", "0", "--no-journal", env=env
            )
            deadline = time.monotonic() + 30
            while slow.app.requests["POST"] < 20 and time.monotonic() < deadline:
                time.sleep(0.02)
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=60)
            seen[proc.returncode] = out + err
            slow.app.requests.clear()
    assert set(seen) == {0, 1, 2, 3, 130, 143}, seen
    for code, text in seen.items():
        assert len(text.strip().splitlines()) == 1, (code, text)


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["utf8", "utf8-bom"])
def test_a_fix_file_saved_as_utf8_under_a_cp1252_mapping_keeps_its_letters(
    tmp_path: Path, bom: bytes
) -> None:
    """Issue 20, case 3. The mapping's [input] says cp1252 (the original export); the fixed
    failed.csv was saved as "CSV UTF-8" (with or without a byte-order mark). Relies on: POST
    creates, the sandbox stores the name as sent."""
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[input]\nencoding = "cp1252"\ndelimiter = ";"\n\n'
        '[fields]\ncustomerId = "Kundennr"\nname = "Firma"\n',
        encoding="utf-8",
    )
    fixed = tmp_path / "failed.csv"
    fixed.write_bytes(bom + "Kundennr;Firma\nK1;Groß GmbH\nK2;Müller & Söhne\n".encode())
    with SandboxServer() as server:
        checked = invoke("validate", fixed, "--mapping", mapping, "--report-dir", tmp_path / "v")
        assert "read as UTF-8, not cp1252" in checked.output, checked.output
        base = ("--base-url", server.base_url, "--mapping", mapping, "--no-journal")
        done = invoke("run", fixed, *base, "--report-dir", tmp_path / "r")
        assert done.exit_code == 0, done.output
        assert server.app.customers["K1"]["name"] == "Groß GmbH"
        assert server.app.customers["K2"]["name"] == "Müller & Söhne"
        summary = (tmp_path / "r" / "summary.json").read_text(encoding="utf-8")
        assert "read as UTF-8" in summary
    # A real cp1252 file under the same mapping is read as cp1252, with no note.
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes("Kundennr;Firma\nK3;Groß GmbH\n".encode("cp1252"))
    plain = invoke("validate", legacy, "--mapping", mapping, "--report-dir", tmp_path / "w")
    assert plain.exit_code == 0 and "read as" not in plain.output, plain.output
