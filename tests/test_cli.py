"""The command line: exit codes, one-line errors, secrets, and runnable help."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from importer.cli import main
from tests.helpers import SAMPLE, write


def invoke(args: list[str], env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    env = {"KELVIQ_API_KEY": "", "KELVIQ_BASE_URL": "", **(env or {})}
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "nope.csv", "--dry-run"], "nope.csv: no such file"),
        (["run", str(SAMPLE), "--dry-run"], "is a directory"),
        (["run", str(SAMPLE / "customers.csv"), "--dry-run", "--sheet", "X"], "--sheet applies to workbooks"),
        (["run", str(SAMPLE / "customers.xlsx"), "--dry-run", "--sheet", "X"], "no sheet named 'X'"),
        (
            ["run", str(SAMPLE / "customers.csv"), "--dry-run", "--mapping", "missing.toml"],
            "mapping file not found",
        ),
        (["run", str(SAMPLE / "customers.csv")], "no API key"),
        (
            ["run", str(SAMPLE / "customers.csv"), "--dry-run", "--delimiter", ";;"],
            "--delimiter must be one character",
        ),
    ],
)
def test_input_and_usage_errors_exit_2_with_one_line(args: list[str], needle: str) -> None:
    result = invoke(args)
    assert result.exit_code == 2
    line = one_line_error(result)
    assert line.startswith("kelviq-import: error: ") and needle in line


def test_no_customer_id_column_exits_2_and_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "people.csv", "Email,Name\na@b.co,A\n")
    result = invoke(["run", str(path), "--dry-run"])
    assert result.exit_code == 2
    assert "people.csv: no customerId column" in one_line_error(result)


def test_hosted_sandbox_and_base_url_together_are_refused(tmp_path: Path) -> None:
    result = invoke(
        ["run", str(SAMPLE / "customers.csv"), "--hosted-sandbox", "--base-url", "https://x.test/api/v1"],
        env={"KELVIQ_API_KEY": "k"},
    )
    assert result.exit_code == 2 and "contradict" in one_line_error(result)


def test_the_old_sandbox_flag_says_which_sandbox_is_which() -> None:
    result = invoke(["run", str(SAMPLE / "customers.csv"), "--sandbox"], env={"KELVIQ_API_KEY": "k"})
    error = one_line_error(result)
    assert result.exit_code == 2 and "--hosted-sandbox" in error and "127.0.0.1:8765" in error


def test_plain_http_to_a_remote_host_is_refused_before_the_key_is_sent() -> None:
    result = invoke(
        ["run", str(SAMPLE / "customers.csv"), "--base-url", "http://api.kelviq.com/api/v1"],
        env={"KELVIQ_API_KEY": "k"},
    )
    assert result.exit_code == 2 and "plain http" in one_line_error(result)


def test_dry_run_exit_code_and_summary(tmp_path: Path) -> None:
    result = invoke(["run", str(SAMPLE / "customers.csv"), "--dry-run", "--report-dir", str(tmp_path / "r")])
    assert result.exit_code == 1  # the sample has bad rows on purpose
    assert "300 rows read, 293 valid" in result.output and "invalid 7" in result.output
    assert "failed.csv" in result.output
    good = write(tmp_path / "good.csv", "customer_id,email\nc1,a@b.co\n")
    assert invoke(["run", str(good), "--dry-run", "--report-dir", str(tmp_path / "g")]).exit_code == 0


def test_api_key_file_readable_by_others_is_warned_about(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("super-secret-value\n")
    key.chmod(0o644)
    result = invoke(
        [
            "run",
            str(SAMPLE / "customers.csv"),
            "--api-key-file",
            str(key),
            "--base-url",
            "http://127.0.0.1:9/api/v1",
            "--dry-run",
            "--report-dir",
            str(tmp_path / "r"),
        ]
    )
    # --dry-run needs no key, so the file is not even read
    assert "readable by other users" not in result.output
    result = invoke(["run", "nope.csv", "--api-key-file", str(key)])
    assert "readable by other users" in result.output and "super-secret-value" not in result.output
    key.chmod(0o600)
    result = invoke(["run", "nope.csv", "--api-key-file", str(key)])
    assert "readable by other users" not in result.output


def test_the_key_is_not_a_command_line_option() -> None:
    result = CliRunner().invoke(main, ["run", "x.csv", "--api-key", "k"])
    assert result.exit_code == 2 and "No such option" in result.output


def test_every_command_has_a_runnable_example_in_its_help() -> None:
    commands = [main, *main.commands.values()]  # type: ignore[attr-defined]
    for command in commands:
        assert isinstance(command, click.Command)
        assert "kelviq-import " in (command.help or "") and "Example" in (command.help or ""), command.name


@pytest.mark.e2e  # starts a process or a sandbox
def test_help_is_fast_because_heavy_libraries_load_lazily() -> None:
    import subprocess
    import sys

    # Libraries the package really uses, each costing tens of milliseconds to import.
    heavy = ("httpx", "python_calamine", "email_validator", "rich", "tenacity", "pycountry", "uvicorn")
    code = f"import sys, importer.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": ""},
    )
    assert out.stdout.strip() == "[]"


def test_the_old_journal_flags_still_work(tmp_path: Path) -> None:
    """--state/--no-state were renamed --journal/--no-journal ("state" meant three things)."""
    from importer.cli import _config

    base = {
        "input_path": SAMPLE / "customers.csv", "file_format": None, "sheet": None, "encoding": None,
        "delimiter": None, "header_row": None, "mapping": None, "on_duplicate": "error", "allow_empty": False,
        "report_dir": None, "report_root": None, "dry_run": True,
    }  # fmt: skip
    assert _config(**base, journal=tmp_path / "j").journal == tmp_path / "j"
    old = invoke(
        ["run", str(SAMPLE / "customers.csv"), "--dry-run", "--no-state", "--report-dir", str(tmp_path / "r")]
    )
    assert old.exit_code == 1  # accepted: 7 invalid rows, nothing sent
