"""Nightly re-runs: journal, modes, crash safety, locking, error budget, verify."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from importer.cli import main
from importer.client import RetryPolicy
from importer.config import ImportConfig
from importer.errors import RunAborted
from importer.journal import Journal
from importer.pipeline import run_import
from importer.sandbox import SandboxProcess, SandboxServer
from importer.verify import verify
from tests.helpers import Dialect, read_csv

pytestmark = pytest.mark.e2e  # whole runs: left out of `make test-fast`

FAST_RETRY = RetryPolicy(attempts=8, backoff_initial=0.001, backoff_max=0.01)


def make_csv(path: Path, n: int, *, changed: frozenset[int] = frozenset(), extra: int = 0) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["customer_id", "email", "name", "city", "country"])
        for i in range(n + extra):
            name = f"Customer {i}" + (" (renamed)" if i in changed else "")
            out.writerow([f"C{i:06d}", f"c{i}@example.com", name, "Berlin", "DE"])
    return path


def cfg(server: SandboxServer | SandboxProcess, input: Path, tmp_path: Path, name: str, **kw) -> ImportConfig:  # type: ignore[no-untyped-def]
    kw.setdefault("journal", tmp_path / "journal.sqlite3")
    kw.setdefault("retry", FAST_RETRY)
    kw.setdefault("concurrency", 16)
    return ImportConfig(
        input=input,
        base_url=server.base_url,
        api_key="sandbox-demo-key",
        rate=None,
        report_dir=tmp_path / name,
        **kw,
    )


def test_unchanged_rerun_sends_nothing_and_changes_send_only_patches_and_posts(
    dialect: Dialect, tmp_path: Path
) -> None:
    source = make_csv(tmp_path / "nightly.csv", 10_000)
    with SandboxProcess(*dialect.args) as server:
        first = run_import(cfg(server, source, tmp_path, "first"))
        assert first.counts == {"created": 10_000}
        before = server.stats()["requests"]

        second = run_import(cfg(server, source, tmp_path, "second"))
        assert second.counts == {"unchanged": 10_000} and second.exit_code == 0
        assert server.stats()["requests"] == before  # not one request, not even a key check
        assert {r["status"] for r in read_csv(tmp_path / "second" / "results.csv")} == {"unchanged"}

        edited = make_csv(tmp_path / "edited.csv", 10_000, changed=frozenset(range(100, 1100, 100)), extra=5)
        third = run_import(cfg(server, edited, tmp_path, "third"))
        after = server.stats()["requests"]
        assert third.counts == {"created": 5, "updated": 10, "unchanged": 9_990}
        assert after["PATCH"] - before.get("PATCH", 0) == 10
        assert after["POST"] - before["POST"] == 5
        assert server.customers()["C000100"]["name"] == "Customer 100 (renamed)"


def test_full_ignores_the_journal(dialect: Dialect, tmp_path: Path) -> None:
    source = make_csv(tmp_path / "in.csv", 50)
    with SandboxServer(dialect.options()) as server:
        run_import(cfg(server, source, tmp_path, "a"))
        again = run_import(cfg(server, source, tmp_path, "b", full=True))
        assert again.counts == {"updated": 50}


def test_create_mode_reports_existing_customers_as_configured(dialect: Dialect, tmp_path: Path) -> None:
    source = make_csv(tmp_path / "in.csv", 20)
    with SandboxServer(dialect.options()) as server:
        run_import(cfg(server, source, tmp_path, "a", use_journal=False))
        failed = run_import(cfg(server, source, tmp_path, "b", use_journal=False, mode="create"))
        assert failed.counts == {"failed": 20}
        error = read_csv(tmp_path / "b" / "results.csv")[0]["error"]
        assert "already exists in kelviq" in error
        skipped = run_import(
            cfg(server, source, tmp_path, "c", use_journal=False, mode="create", on_conflict="unchanged")
        )
        assert skipped.counts == {"unchanged": 20} and skipped.exit_code == 0
        assert max(server.app.creates_by_id.values()) == 1


def test_update_mode_reports_unknown_customers_per_row(dialect: Dialect, tmp_path: Path) -> None:
    with SandboxServer(dialect.options()) as server:
        run_import(cfg(server, make_csv(tmp_path / "a.csv", 5), tmp_path, "a", use_journal=False))
        summary = run_import(
            # The journal alone judges (no listing first), so the 5 known customers are PATCHed.
            cfg(
                server,
                make_csv(tmp_path / "b.csv", 5, extra=2),
                tmp_path,
                "b",
                mode="update",
                baseline="journal",
            )
        )
        assert summary.counts == {"updated": 5, "failed": 2}
        errors = {r["customerId"]: r["error"] for r in read_csv(tmp_path / "b" / "results.csv")}
        assert errors["C000006"].startswith("no customer 'C000006' in kelviq (--mode update): 40")
        assert len(server.app.customers) == 5


def test_a_customer_deleted_since_the_last_run_is_created_again(dialect: Dialect, tmp_path: Path) -> None:
    with SandboxServer(dialect.options()) as server:
        run_import(cfg(server, make_csv(tmp_path / "a.csv", 3), tmp_path, "a"))
        del server.app.customers["C000001"]
        summary = run_import(
            cfg(server, make_csv(tmp_path / "b.csv", 3, changed=frozenset({1})), tmp_path, "b")
        )
        assert summary.counts == {"created": 1, "unchanged": 2}
        assert "C000001" in server.app.customers


@pytest.mark.parametrize("mode", ["upsert", "create"])
def test_lost_responses_never_end_as_false_failures_or_duplicates(
    dialect: Dialect, tmp_path: Path, mode: str
) -> None:
    source = make_csv(tmp_path / "in.csv", 400)
    with SandboxServer(dialect.options(lose_response_rate=0.25, seed=11)) as server:
        summary = run_import(cfg(server, source, tmp_path, "r", mode=mode))
        assert server.app.requests["lost"] > 50
        assert summary.counts.get("failed", 0) == 0
        assert summary.counts.get("created", 0) + summary.counts.get("updated", 0) == 400
        assert len(server.app.customers) == 400 and max(server.app.creates_by_id.values()) == 1
    with Journal.open(tmp_path / "journal.sqlite3", base_url=server.base_url) as journal:
        assert len(journal) == 400


def test_a_second_run_on_the_same_journal_exits_3_and_changes_nothing(
    dialect: Dialect, tmp_path: Path
) -> None:
    source = make_csv(tmp_path / "in.csv", 10)
    with SandboxServer(dialect.options()) as server:
        config = cfg(server, source, tmp_path, "second")
        with Journal.open(config.journal, base_url=server.base_url):  # type: ignore[arg-type]
            with pytest.raises(RunAborted, match=r"another kelviq-import run .* is using the journal"):
                run_import(config)
            result = CliRunner().invoke(
                main,
                [
                    "run",
                    str(source),
                    "--base-url",
                    server.base_url,
                    "--journal",
                    str(config.journal),
                    "--report-dir",
                    str(tmp_path / "cli"),
                ],
                env={"KELVIQ_API_KEY": "sandbox-demo-key"},
            )
            assert result.exit_code == 3 and "is using the journal" in result.output
        assert server.app.requests["total"] == 0 and not server.app.customers
        assert not (tmp_path / "second").exists() and not (tmp_path / "cli").exists()
        assert run_import(config).counts == {"created": 10}  # the lock goes with its holder


def test_error_budget_aborts_a_broken_night(dialect: Dialect, tmp_path: Path) -> None:
    source = make_csv(tmp_path / "in.csv", 500)
    with SandboxServer(dialect.options(fault_rate=1.0, seed=1)) as server:
        retry = RetryPolicy(attempts=2, backoff_initial=0.001, backoff_max=0.001)
        summary = run_import(cfg(server, source, tmp_path, "r", max_failures=10, retry=retry, concurrency=4))
        assert summary.exit_code == 3 and "error budget exhausted: 11 rows failed" in (summary.aborted or "")
        assert server.app.requests["POST"] <= 2 * (11 + 4)
        rate = run_import(
            cfg(server, source, tmp_path, "s", max_failure_rate=0.5, retry=retry, concurrency=4)
        )
        assert rate.exit_code == 3 and "--max-failure-rate 0.5" in (rate.aborted or "")
    results = read_csv(tmp_path / "r" / "results.csv")
    assert len(results) == 500 and sum(r["error"].startswith("not sent: run aborted") for r in results) > 450


def run_cli(args: list[str], **kw):  # type: ignore[no-untyped-def]
    return subprocess.Popen(
        [sys.executable, "-m", "importer", "run", *args],
        env={"KELVIQ_API_KEY": "sandbox-demo-key", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_sigkill_at_several_points_then_rerun_creates_each_customer_once(
    dialect: Dialect, tmp_path: Path
) -> None:
    source = make_csv(tmp_path / "big.csv", 20_000)
    with SandboxProcess(*dialect.args) as server:
        args = [
            str(source),
            "--base-url",
            server.base_url,
            "--rate",
            "0",
            "--concurrency",
            "16",
            "--journal",
            str(tmp_path / "j.sqlite3"),
        ]
        for n, kill_at in enumerate((1_500, 5_000, 9_000)):
            proc = run_cli([*args, "--report-dir", str(tmp_path / f"killed{n}")])
            wait_for(
                lambda k=kill_at, p=proc: (
                    server.stats()["requests"].get("total", 0) >= k or p.poll() is not None
                )
            )
            proc.kill()
            proc.communicate()
            assert proc.returncode == -signal.SIGKILL
        final = run_cli([*args, "--report-dir", str(tmp_path / "final")])
        _, err = final.communicate(timeout=300)
        assert final.returncode == 0, err
        stats = server.stats()
        assert stats["customers"] == 20_000 and stats["most_creates_of_one_customer"] == 1
    rows = read_csv(tmp_path / "final" / "results.csv")
    assert sorted(int(r["row"]) for r in rows) == list(range(2, 20_002))
    statuses = Counter(r["status"] for r in rows)
    assert set(statuses) <= {"created", "updated", "unchanged"} and statuses["unchanged"] >= 9_000 - 100


def test_sigterm_stops_gracefully_with_a_complete_report(dialect: Dialect, tmp_path: Path) -> None:
    source = make_csv(tmp_path / "in.csv", 5_000)
    with SandboxServer(dialect.options(latency_ms=5)) as server:
        args = [
            str(source),
            "--base-url",
            server.base_url,
            "--rate",
            "0",
            "--journal",
            str(tmp_path / "j.sqlite3"),
        ]
        proc = run_cli([*args, "--report-dir", str(tmp_path / "r")])
        wait_for(lambda: server.app.requests["POST"] >= 200)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 143, err
        assert "Traceback" not in err and "interrupted by SIGTERM" in err
        created = len(server.app.customers)
        rows = read_csv(tmp_path / "r" / "results.csv")
        assert len(rows) == 5_000
        statuses = Counter(r["status"] for r in rows)
        assert statuses["created"] == created < 5_000
        assert statuses["not_sent"] == 5_000 - created  # not rows to fix: the re-run sends them
        with Journal.open(tmp_path / "j.sqlite3", base_url=server.base_url) as journal:
            assert len(journal) == created
        rest = run_cli([*args, "--report-dir", str(tmp_path / "rest")])
        rest.communicate(timeout=120)
        assert rest.returncode == 0 and len(server.app.customers) == 5_000
        assert Counter(r["status"] for r in read_csv(tmp_path / "rest" / "results.csv")) == {
            "unchanged": created,
            "created": 5_000 - created,
        }


def test_verify_reports_missing_and_different_customers(dialect: Dialect, tmp_path: Path) -> None:
    source = make_csv(tmp_path / "in.csv", 250)
    with SandboxServer(dialect.options()) as server:
        run_import(cfg(server, source, tmp_path, "a"))
        del server.app.customers["C000007"]
        server.app.customers["C000042"]["name"] = "Someone Else"
        server.app.customers["C000043"]["billingAddress"]["country"] = "FR"
        gets_before = server.app.requests["GET"]
        summary = verify(cfg(server, source, tmp_path, "v"))
        assert summary.customers_in_kelviq == 249
        assert summary.counts == {"match": 247, "missing": 1, "different": 2} and summary.exit_code == 1
        found = {r["customerId"]: r for r in read_csv(tmp_path / "v" / "verify.csv")}
        assert found["C000007"]["status"] == "missing"
        assert found["C000042"]["differences"] == "name: file 'Customer 42', kelviq 'Someone Else'"
        assert found["C000043"]["differences"] == "billingAddress.country: file 'DE', kelviq 'FR'"
        assert server.app.requests["GET"] - gets_before == 3  # pages of 100
        result = CliRunner().invoke(
            main,
            [
                "verify",
                str(source),
                "--base-url",
                server.base_url,
                "--report-dir",
                str(tmp_path / "cli"),
                "-q",
            ],
            env={"KELVIQ_API_KEY": "sandbox-demo-key"},
        )
        assert result.exit_code == 1 and "missing 1" in result.output


def test_quiet_prints_one_line(dialect: Dialect, tmp_path: Path) -> None:
    source = make_csv(tmp_path / "in.csv", 3)
    with SandboxServer(dialect.options()) as server:
        result = CliRunner().invoke(
            main,
            [
                "run",
                str(source),
                "--base-url",
                server.base_url,
                "--quiet",
                "--journal",
                str(tmp_path / "j"),
                "--report-dir",
                str(tmp_path / "r"),
            ],
            env={"KELVIQ_API_KEY": "sandbox-demo-key"},
        )
    assert result.exit_code == 0
    assert result.output.count("\n") == 1 and "3 rows: created 3" in result.output
