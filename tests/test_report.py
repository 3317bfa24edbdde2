"""The report files alone: what they refuse, what they neutralise, what they hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.errors import ExitCode, OutputError, UsageError
from importer.report import Reporter, RowResult, Summary, open_output, safe_cell
from importer.report_html import render
from tests.helpers import read_csv


def summary(**kw: object) -> Summary:
    base: dict[str, object] = {
        "input": "in.csv", "input_sha256": "0" * 64, "base_url": None, "dry_run": False,
        "counts": {"created": 1}, "rows": 1, "started_at": "2026-11-25T00:00:00+00:00",
        "finished_at": "2026-11-25T00:00:01+00:00", "duration_s": 1.0, "rows_per_second": 1.0,
        "report_dir": "r",
    }  # fmt: skip
    base.update(kw)
    return Summary(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_text_that_a_spreadsheet_would_run_is_neutralised(text: str) -> None:
    assert safe_cell(text) == "'" + text
    assert safe_cell("plain") == "plain"


def test_outputs_never_overwrite_an_input_or_follow_a_link(tmp_path: Path) -> None:
    source = tmp_path / "failed.csv"
    source.write_text("keep\n")
    with pytest.raises(UsageError, match="would overwrite"):
        open_output(source, protected=(source,))
    link = tmp_path / "results.csv"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OutputError, match="symbolic link"):
        open_output(link)
    assert source.read_text() == "keep\n" and not (tmp_path / "elsewhere").exists()


def test_failed_csv_drops_old_report_columns_instead_of_stacking_them(tmp_path: Path) -> None:
    columns = ("id", "name", "kelviq_import_row", "kelviq_import_error")
    reporter = Reporter(tmp_path, columns)
    reporter.write(
        RowResult(row=17, customer_id="a", status="invalid", error="bad", cells=("a", "n", "17", "old"))
    )
    reporter.write(
        RowResult(row=18, customer_id="b", status="not_sent", error="not sent", cells=("b", "m", "", ""))
    )
    reporter.close(summary())
    [row] = read_csv(tmp_path / "failed.csv")  # not_sent is not a row to fix
    assert row == {"id": "a", "name": "n", "kelviq_import_row": "17", "kelviq_import_error": "bad"}


def test_exit_codes_come_from_one_enum() -> None:
    assert summary().exit_code == ExitCode.OK
    assert summary(counts={"created": 1, "invalid": 1}).exit_code == ExitCode.ROWS_TO_FIX
    assert summary(counts={"not_sent": 3}, aborted="key refused").exit_code == ExitCode.ABORTED
    assert summary(signal=15, aborted="interrupted by SIGTERM").exit_code == 143
    assert summary().to_json()["exit_code"] == 0


def test_report_html_escapes_what_came_from_files_and_servers() -> None:
    html = render(
        summary(
            input="<img src=x onerror=alert(1)>.csv",
            counts={"failed": 1},
            problems=[
                {"kind": "400 <b>bold</b>", "rows": 1, "examples": [{"row": 2, "value": "<img src=x>"}]}
            ],
        ).to_json(),
        {},
    )
    assert "<img src=x onerror" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>bold</b>" not in html and "<img src=x>" not in html and "&lt;img src=x&gt;" in html
