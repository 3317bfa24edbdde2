"""What a person sees: live progress on a terminal (and none in cron), report.html as a browser
renders it, JSON log events, and the library API an orchestrator calls."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from importer.cli import main
from importer.sandbox import SandboxOptions, SandboxServer
from importer.statuses import STATUS_COLOURS
from tests.helpers import SAMPLE, png_colours

pytestmark = pytest.mark.e2e  # whole runs: left out of `make test-fast`

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def kelviq(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, as cron or a shell runs it."""
    return subprocess.run(
        [sys.executable, "-m", "importer", *args], env=env, capture_output=True, text=True, timeout=120
    )


def run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal, as a person at a shell."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "importer", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", **env},
    )
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(60), ANSI.sub("", out.decode(errors="replace"))


def test_a_terminal_gets_live_progress_and_a_summary_table(tmp_path: Path) -> None:
    # Rate-limited so the run lasts a few refreshes of the display.
    with SandboxServer(SandboxOptions(latency_ms=5)) as server:
        env = {"KELVIQ_API_KEY": "sandbox-demo-key", "KELVIQ_BASE_URL": server.base_url}
        args = [
            "run",
            str(SAMPLE / "customers.csv"),
            "--rate",
            "250",
            "--no-journal",
            "--report-dir",
            str(tmp_path / "r"),
        ]
        code, screen = run_on_a_terminal(args, env)
    assert code == 1
    assert re.search(r"customers\.csv .*\d+/300 +\d+ rows/s .*ETA", screen), screen[:2000]
    assert re.search(r"created \d+ +invalid \d+", screen)  # counts by status while it runs
    assert "300/300" in screen
    table = screen[screen.rindex("status") :]
    assert re.search(r"created\s*│\s*293\s*│\s*97\.7%", table) and re.search(r"invalid\s*│\s*7\s*│", table)
    assert f"report: {tmp_path / 'r' / 'report.html'}" in screen


def test_quiet_or_no_terminal_means_no_progress(tmp_path: Path) -> None:
    with SandboxServer() as server:
        env = {"KELVIQ_API_KEY": "sandbox-demo-key", "KELVIQ_BASE_URL": server.base_url}
        base = ["run", str(SAMPLE / "customers.csv"), "--rate", "0", "--no-journal"]
        code, screen = run_on_a_terminal([*base, "--quiet", "--report-dir", str(tmp_path / "q")], env)
        piped = kelviq(*base, "--report-dir", str(tmp_path / "p"), env={**os.environ, **env})
    assert code == 1 and "rows/s" not in screen and "ETA" not in screen
    assert screen.strip().count("\n") == 0  # one line for cron
    assert "ETA" not in piped.stderr and "━" not in piped.stderr
    assert "300 rows read, 293 imported" in piped.stderr  # imported: created, updated or unchanged only


def test_json_logs_have_one_event_per_line_and_no_per_row_noise_at_v(tmp_path: Path) -> None:
    with SandboxServer(SandboxOptions(fault_rate=0.2, seed=5)) as server:
        env = {**os.environ, "KELVIQ_API_KEY": "sandbox-demo-key", "KELVIQ_BASE_URL": server.base_url}
        log = tmp_path / "run.jsonl"
        done = kelviq(
            "run",
            str(SAMPLE / "customers.csv"),
            "--rate",
            "0",
            "--no-journal",
            "-v",
            "--log-format",
            "json",
            "--log-file",
            str(log),
            "--report-dir",
            str(tmp_path / "r"),
            env=env,
        )
    assert done.returncode == 1
    events = [json.loads(line) for line in log.read_text().splitlines()]
    names = [e["event"] for e in events]
    assert names[0] == "run_start" and names[-1] == "run_end"
    assert "retry" in names and "row" not in names
    end = events[-1]
    assert end["counts"] == {"created": 293, "invalid": 7} and end["retries"] == names.count("retry")
    assert all({"ts", "level", "message"} <= set(e) for e in events)


def test_an_abort_is_an_event_of_its_own_even_without_v(tmp_path: Path) -> None:
    with SandboxServer() as server:
        env = {**os.environ, "KELVIQ_API_KEY": "revoked", "KELVIQ_BASE_URL": server.base_url}
        done = kelviq(
            "run",
            str(SAMPLE / "customers.csv"),
            "--no-journal",
            "--log-format",
            "json",
            "--report-dir",
            str(tmp_path / "r"),
            env=env,
        )
    assert done.returncode == 3
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    abort = [e for e in events if e["event"] == "abort"]
    assert len(abort) == 1 and abort[0]["level"] == "warning" and "401" in abort[0]["reason"]
    assert "revoked" not in done.stderr


class _Cells(HTMLParser):
    """The numbers report.html shows, as the browser serialised them."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        self.ids: dict[str, str] = {}
        self.problems: list[int] = []
        self._status: str | None = None
        self._grab: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-status"):
            self._status = a["data-status"]
        classes = (a.get("class") or "").split()
        if tag == "td" and "count" in classes:
            self._grab = "count"
        elif tag == "td" and "rows" in classes:
            self._grab = "problem"
        elif a.get("id") in ("total", "verdict", "duration", "rate"):
            self._grab = "id:" + str(a["id"])

    def handle_data(self, data: str) -> None:
        if self._grab == "count" and self._status:
            self.counts[self._status] = int(data)
        elif self._grab == "problem":
            self.problems.append(int(data))
        elif self._grab and self._grab.startswith("id:"):
            self.ids[self._grab[3:]] = data
        self._grab = None


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_report_html_says_what_summary_json_says_without_a_browser(tmp_path: Path) -> None:
    """The same numbers as the browser test, read from the file itself: runs everywhere."""
    report = tmp_path / "r"
    result = CliRunner().invoke(
        main, ["validate", str(SAMPLE / "customers.csv"), "--report-dir", str(report)]
    )
    assert result.exit_code == 1
    summary = json.loads((report / "summary.json").read_text())
    cells = _Cells()
    cells.feed((report / "report.html").read_text(encoding="utf-8"))
    assert cells.counts == summary["counts"] == {"valid": 293, "invalid": 7}
    assert int(cells.ids["total"]) == summary["rows"] == 300
    assert cells.problems == [p["rows"] for p in summary["problems"]] and sum(cells.problems) == 7
    assert "maria.at.example.com" in (report / "report.html").read_text(encoding="utf-8")  # the values


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (`make test` installs it)")
def test_report_html_shows_what_summary_json_says_in_a_real_browser(tmp_path: Path) -> None:
    report = tmp_path / "r"
    with SandboxServer(SandboxOptions(fault_rate=0.1, latency_ms=2, seed=9)) as server:
        env = {**os.environ, "KELVIQ_API_KEY": "sandbox-demo-key", "KELVIQ_BASE_URL": server.base_url}
        kelviq(
            "run",
            str(SAMPLE / "customers.csv"),
            "--rate",
            "150",
            "--no-journal",
            "--report-dir",
            str(report),
            env=env,
        )
    summary = json.loads((report / "summary.json").read_text())
    profile = tmp_path / "chromium-profile"
    assert CHROMIUM is not None
    dom = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--dump-dom",
            (report / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    cells = _Cells()
    cells.feed(dom.stdout)
    assert cells.counts == summary["counts"] == {"created": 293, "invalid": 7}
    assert int(cells.ids["total"]) == summary["rows"] == 300
    assert cells.ids["verdict"] == "7 rows to fix"
    assert float(cells.ids["duration"]) == pytest.approx(summary["duration_s"], abs=0.05)
    assert cells.problems == [p["rows"] for p in summary["problems"]] and sum(cells.problems) == 7
    # Throughput (rows, requests and the rate aimed at), latency and throttling (two lines each).
    assert dom.stdout.count("<polyline") == 7 and "rate aimed at" in dom.stdout
    assert "http://" not in dom.stdout.replace(summary["base_url"], "")  # nothing fetched from anywhere
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1100,1600",
            (report / "report.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    # The page as a person sees it: the status bar in the created and invalid colours, text.
    colours = png_colours(shot)
    created = sum(n for c, n in colours.items() if _near(c, STATUS_COLOURS["created"]))
    invalid = sum(n for c, n in colours.items() if _near(c, STATUS_COLOURS["invalid"]))
    assert created > 2 * invalid > 0, (created, invalid)  # 293 against 7: both drawn, green the most
    assert len(colours) > 50  # text and charts, not a blank canvas


def _near(rgb: tuple[int, int, int], hex_colour: str, slack: int = 6) -> bool:
    want = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= slack for a, b in zip(rgb, want, strict=True))


def test_the_python_api_for_orchestrators(tmp_path: Path) -> None:
    import importer
    from importer import ImportConfig, RunAborted, Summary, run_import

    assert set(importer.__all__) >= {"run_import", "ImportConfig", "Summary", "validate", "verify"}
    with SandboxServer() as server:
        summary = run_import(
            ImportConfig(
                input=SAMPLE / "customers.xlsx",
                base_url=server.base_url,
                api_key="sandbox-demo-key",
                rate=None,
                report_dir=tmp_path / "r",
                journal=tmp_path / "j.sqlite3",
            )
        )
        assert isinstance(summary, Summary) and summary.counts == {"created": 293, "invalid": 7}
        assert summary.exit_code == 1 and len(server.app.customers) == 293
        bad = run_import(
            ImportConfig(
                input=SAMPLE / "customers.csv",
                base_url=server.base_url,
                api_key="wrong",
                report_dir=tmp_path / "bad",
                use_journal=False,
            )
        )
    assert bad.aborted and bad.exit_code == 3 and issubclass(importer.AuthenticationError, RunAborted)
