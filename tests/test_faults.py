"""A flaky API, unusable files and secrets: keep going, lose no row, leak nothing.

The fault suite runs real imports against the sandbox on loopback with faults injected
(seeded), then checks the server's own record: every valid customer exists exactly once, and
the report holds every input row exactly once.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from importer.cli import main
from importer.client import RetryPolicy
from importer.config import ImportConfig
from importer.pipeline import run_import
from importer.sandbox import SandboxOptions, SandboxProcess, SandboxServer
from tests.helpers import SAMPLE, Dialect, read_csv, write

pytestmark = pytest.mark.e2e  # whole runs: left out of `make test-fast`

ROWS = 600
# Generous: a 30% fault rate with millisecond backoffs can hit one row ten times running.
RETRY = RetryPolicy(attempts=16, backoff_initial=0.001, backoff_max=0.01)


def make_file(path: Path, n: int = ROWS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["customer_id", "email", "name", "country"])
        for i in range(n):
            out.writerow([f"F{i:05d}", f"f{i}@example.com", f"Faulty {i}", "NL"])
        out.writerow(["", "nobody@example.com", "no id", "NL"])  # one invalid row, always
    return path


# Sandbox command-line options per fault. The sandbox runs in a process of its own, so a
# busy CI machine slows it and the importer alike instead of starving one through the GIL.
FAULTS = {
    "5xx": ["--fault-rate", "0.10"],
    "hangs past the timeout": ["--hang-rate", "0.02", "--hang-seconds", "3"],
    "dropped connections": ["--drop-rate", "0.05"],
    "bursts of 429": ["--burst-429", "1.5:0.3"],
    "lost responses": ["--lose-response-rate", "0.05"],
    "all at once": [
        "--fault-rate",
        "0.10",
        "--hang-rate",
        "0.02",
        "--hang-seconds",
        "3",
        "--drop-rate",
        "0.03",
        "--burst-429",
        "2:0.2",
        "--lose-response-rate",
        "0.03",
    ],
}


@pytest.mark.parametrize("mode", ["upsert", "create"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_faults_lose_nothing_and_duplicate_nothing(
    dialect: Dialect, tmp_path: Path, fault: str, mode: str
) -> None:
    source = make_file(tmp_path / "in.csv")
    seed = str(list(FAULTS).index(fault) + (10 if mode == "create" else 0))
    with SandboxProcess(*dialect.args, *FAULTS[fault], "--seed", seed) as server:
        summary = run_import(
            ImportConfig(
                input=source,
                base_url=server.base_url,
                api_key="sandbox-demo-key",
                rate=None,
                concurrency=32,
                timeout=1.0,
                retry=RETRY,
                mode=mode,
                report_dir=tmp_path / "r",
                journal=tmp_path / "journal.sqlite3",
            )
        )
        stats = server.stats()
        on_server = set(server.customers())
    results = read_csv(tmp_path / "r" / "results.csv")
    rows = [int(r["row"]) for r in results]
    assert sorted(rows) == list(range(2, ROWS + 3))  # every input row, exactly once
    by_status = {r["customerId"]: r["status"] for r in results if r["customerId"]}
    problems = [
        (r["row"], r["status"], r["attempts"], r["error"]) for r in results if r["status"] == "failed"
    ]
    assert set(by_status.values()) <= {"created", "updated"}, (summary.counts, problems)
    assert on_server == {f"F{i:05d}" for i in range(ROWS)}
    assert stats["most_creates_of_one_customer"] == 1  # never created twice
    assert summary.counts.get("invalid") == 1 and summary.exit_code == 1
    injected = {
        k: v for k, v in stats["requests"].items() if k in ("500", "503", "hung", "dropped", "lost", "429")
    }
    assert injected, "the fault was not injected: this test would prove nothing"
    assert summary.retries >= sum(injected.values()) - injected.get("hung", 0)


# --- bad inputs ------------------------------------------------------------------------------


def password_xlsx(path: Path) -> Path:
    # An encrypted workbook is an OLE2 compound file, not a zip: the header is what matters.
    path.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 504)
    return path


BAD_INPUTS = {
    "missing file": (lambda d: d / "absent.csv", "absent.csv: no such file"),
    "a directory": (lambda d: (d / "dir.csv").mkdir() or d / "dir.csv", "is a directory"),
    "empty file": (lambda d: write(d / "e.csv", ""), "e.csv: the file is empty"),
    "binary with NUL bytes": (
        lambda d: write(d / "b.csv", "id\x00\x00\x01\x02\n"),
        "b.csv: looks like a binary",
    ),
    "wrong sheet": (lambda d: SAMPLE / "customers.xlsx", "no sheet named 'Nope'"),
    "corrupt xlsx": (lambda d: write(d / "c.xlsx", "PK\x03\x04garbage"), "c.xlsx: not a readable workbook"),
    "password-protected xlsx": (
        lambda d: password_xlsx(d / "p.xlsx"),
        "p.xlsx: the workbook is password-protected",
    ),
    "header only": (
        lambda d: write(d / "h.csv", "id,email\n\n"),
        "h.csv: no data rows below the header (line 1)",
    ),
    "duplicate header names": (lambda d: write(d / "h.csv", "id,name,Name\n1,a,b\n"), "have the same name"),
    "unknown mapping column": (
        lambda d: write(d / "u.csv", "Customer ID,Mail\n1,a@b.co\n"),
        "column 'Email Address'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_give_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    make, needle = BAD_INPUTS[case]
    path = make(tmp_path)
    args = ["run", str(path), "--dry-run", "--report-dir", str(tmp_path / "r")]
    if case == "wrong sheet":
        args += ["--sheet", "Nope"]
    if case == "unknown mapping column":
        args += ["--mapping", str(SAMPLE / "mapping.example.toml")]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("kelviq-import: error: ") and needle in lines[0], lines
    assert "Traceback" not in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path / "locked.csv", "id\n1\n")
    path.chmod(0)
    result = CliRunner().invoke(main, ["run", str(path), "--dry-run"], catch_exceptions=False)
    assert result.exit_code == 2 and "locked.csv: cannot be read (Permission denied)" in result.output


def test_a_file_that_fails_to_read_is_one_line_even_for_root(tmp_path: Path) -> None:
    # Root ignores file modes; /proc/self/mem refuses a plain read to everyone (EIO).
    link = tmp_path / "mem.csv"
    link.symlink_to("/proc/self/mem")
    result = CliRunner().invoke(main, ["run", str(link), "--dry-run"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "mem.csv: cannot be read (Input/output error)" in result.output.strip()


def test_header_only_is_fine_when_said_to_be(tmp_path: Path) -> None:
    # A nightly delta export with nothing new: --allow-empty makes it a quiet run of 0 rows.
    result = CliRunner().invoke(
        main,
        [
            "validate",
            str(write(tmp_path / "h.csv", "id,email\n")),
            "--allow-empty",
            "--report-dir",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0 and "h.csv: 0 rows" in result.output
    assert read_csv(tmp_path / "r" / "results.csv") == []


def test_huge_cells_and_wide_files_are_rows_not_crashes(tmp_path: Path) -> None:
    wide = ",".join(["id", *(f"extra{i}" for i in range(10_000))])
    path = write(tmp_path / "w.csv", wide + "\n" + ",".join(["1", *("x" for _ in range(10_000))]) + "\n")
    big = write(tmp_path / "big.csv", "id,email\n1," + "a" * (1 << 20) + "@example.com\n2,b@example.com\n")
    for p in (path, big):
        result = CliRunner().invoke(main, ["validate", str(p), "--report-dir", str(tmp_path / p.stem)])
        assert "Traceback" not in result.output
    assert read_csv(tmp_path / "w" / "results.csv")[0]["status"] == "valid"
    results = read_csv(tmp_path / "big" / "results.csv")
    # A 1 MB e-mail address is a row problem with a reason (over RFC 5321's 64-character local
    # part), never a crash; the next row goes on.
    assert [r["status"] for r in results] == ["invalid", "valid"]
    assert "too long" in results[0]["error"]


# --- secrets ---------------------------------------------------------------------------------

SECRET = "kq_live_DO-NOT-LEAK-5f1c2e9a7b"


def test_the_key_never_appears_in_any_output_report_or_log(tmp_path: Path) -> None:
    """Runs at every verbosity, good key and bad key, then greps everything written."""
    outputs: list[str] = []
    with SandboxServer(SandboxOptions(api_key=SECRET, fault_rate=0.2, seed=3)) as server:
        env = {**os.environ, "KELVIQ_API_KEY": SECRET, "KELVIQ_BASE_URL": server.base_url}
        for i, extra in enumerate([[], ["-v"], ["-vv"], ["--quiet"], ["-vv", "--log-format", "json"]]):
            args = [
                sys.executable,
                "-m",
                "importer",
                "run",
                str(SAMPLE / "customers.csv"),
                "--report-dir",
                str(tmp_path / f"r{i}"),
                "--rate",
                "0",
                "--no-journal",
                "--log-file",
                str(tmp_path / f"log{i}.txt"),
                *extra,
            ]
            done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 1, done.stderr
            outputs += [done.stdout, done.stderr]
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "importer",
                "run",
                str(SAMPLE / "customers.csv"),
                "-vv",
                "--report-dir",
                str(tmp_path / "bad"),
            ],
            env={**env, "KELVIQ_API_KEY": SECRET[::-1]},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 3
        outputs += [bad.stdout, bad.stderr]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 20
    for text in [*outputs, *(p.read_text(errors="replace") for p in written)]:
        assert SECRET not in text and SECRET[::-1] not in text
        assert "Bearer" not in text


def test_plain_http_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["run", str(SAMPLE / "customers.csv"), "--base-url", "http://api.example.com/api/v1"],
        env={"KELVIQ_API_KEY": SECRET},
    )
    assert result.exit_code == 2 and "plain http" in result.output and SECRET not in result.output


# --- a full disk -----------------------------------------------------------------------------


class _FullDisk(io.StringIO):
    """A report file on a full disk: every write fails with ENOSPC, as /dev/full does (a
    symlink to /dev/full in the report directory is now refused as a planted link)."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_writing_the_report_is_a_clear_error_and_the_journal_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importer.report

    report = tmp_path / "r"
    real_open = importer.report.open_output

    def open_output(path: Path, **kw):  # type: ignore[no-untyped-def]
        return _FullDisk() if path.parent == report and path.name == "results.csv" else real_open(path, **kw)

    monkeypatch.setattr(importer.report, "open_output", open_output)
    journal = tmp_path / "journal.sqlite3"
    with SandboxServer() as server:
        env = {"KELVIQ_API_KEY": "sandbox-demo-key", "KELVIQ_BASE_URL": server.base_url}
        args = ["run", str(SAMPLE / "customers.csv"), "--rate", "0", "--journal", str(journal)]
        result = CliRunner().invoke(
            main, [*args, "--report-dir", str(report)], env=env, catch_exceptions=False
        )
        assert result.exit_code == 3, result.output
        line = result.output.strip().splitlines()[-1]
        assert (
            "No space left on device" in line and "results.csv" in line and "Traceback" not in result.output
        )
        sent = len(server.app.customers)
        monkeypatch.undo()
        # Space again: the re-run finishes the job and creates nothing twice.
        again = CliRunner().invoke(main, [*args, "--report-dir", str(tmp_path / "r2")], env=env)
        assert again.exit_code == 1, again.output
        assert server.app.stats()["most_creates_of_one_customer"] == 1
        assert len(server.app.customers) == 293 >= sent
    rows = read_csv(tmp_path / "r2" / "results.csv")
    assert len(rows) == 300
