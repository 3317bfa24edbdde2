"""The nightly job as operations see it: customers that left the source (--absent) and a
metrics file an alert can watch (--metrics-file).

API behaviour relied on: the sandbox's listing (DRF pagination) and its PATCH replacing the
metadata object, as the spec says it "typically" does; no delete is ever sent."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from importer.config import ImportConfig
from importer.pipeline import run_import
from importer.sandbox import DEFAULT_KEY, SandboxServer
from tests.helpers import read_csv, write

pytestmark = pytest.mark.e2e

KEY = "kelviq_import_absent_since"


def night(path: Path, ids: list[int]) -> Path:
    return write(path, "id,name\n" + "".join(f"N{i},Customer {i}\n" for i in ids))


def cfg(server: SandboxServer, source: Path, report: Path, **kw: object) -> ImportConfig:
    return ImportConfig(
        input=source, base_url=server.base_url, api_key=DEFAULT_KEY, rate=None, report_dir=report, **kw
    )  # type: ignore[arg-type]


def absent_ids(report: Path) -> set[str]:
    return {r["customerId"] for r in read_csv(report / "absent.csv")}


def test_customers_that_left_the_source_are_reported_tagged_and_untagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 24's nightly scenario. Five customers are a tiny population: the guard is set to
    half of them here (10% by default, for real ones)."""
    journal = tmp_path / "j.sqlite3"
    today = dt.datetime.now(dt.UTC).date().isoformat()
    with SandboxServer() as server:
        # Someone else's customer, never written by this importer: out of the default scope.
        server.app.customers["X1"] = {"id": "x", "customerId": "X1", "name": "Not ours", "metadata": {}}
        first = run_import(cfg(server, night(tmp_path / "n1.csv", [1, 2, 3, 4, 5]), tmp_path / "r1",
                               journal=journal, absent="tag", absent_guard=0.5))  # fmt: skip
        assert first.counts == {"created": 5} and first.absent == 0
        # Night 2: 2 and 4 left the CRM, 6 and 7 are new.
        second = run_import(cfg(server, night(tmp_path / "n2.csv", [1, 3, 5, 6, 7]), tmp_path / "r2",
                                journal=journal, absent="tag", absent_guard=0.5))  # fmt: skip
        assert second.counts == {"unchanged": 3, "created": 2} and second.exit_code == 0
        assert absent_ids(tmp_path / "r2") == {"N2", "N4"} and second.absent_tagged == 2
        from importer.console import print_summary

        print_summary(second)  # what `run` prints at the end says it too
        assert "absent: 2 customers in scope are no longer in the input; tagged 2" in capsys.readouterr().err
        assert {c for c, r in server.app.customers.items() if KEY in (r.get("metadata") or {})} == {
            "N2",
            "N4",
        }
        assert server.app.customers["N2"]["metadata"][KEY] == today
        assert "DELETE" not in server.app.requests
        # The same file again: nothing new is tagged (idempotent).
        server.app.requests.clear()
        again = run_import(cfg(server, night(tmp_path / "n2b.csv", [1, 3, 5, 6, 7]), tmp_path / "r2b",
                               journal=journal, absent="tag", absent_guard=0.5))  # fmt: skip
        assert again.absent == 2 and again.absent_tagged == 0 and server.app.requests["PATCH"] == 0
        # Night 3: 2 comes back; its key is removed, 4 stays tagged since the day it left.
        third = run_import(cfg(server, night(tmp_path / "n3.csv", [1, 2, 3, 5, 6, 7]), tmp_path / "r3",
                               journal=journal, absent="tag", absent_guard=0.5))  # fmt: skip
        assert absent_ids(tmp_path / "r3") == {"N4"} and third.absent_untagged == 1
        assert KEY not in (server.app.customers["N2"].get("metadata") or {})
        assert read_csv(tmp_path / "r3" / "absent.csv")[0]["absent_since"] == today
        assert "X1" not in absent_ids(tmp_path / "r3")
        # A file half as long is a broken export: the guard refuses, nothing is tagged.
        server.app.requests.clear()
        cut = run_import(cfg(server, night(tmp_path / "n4.csv", [1, 2, 3]), tmp_path / "r4",
                             journal=journal, absent="tag", absent_guard=0.5))  # fmt: skip
        assert cut.exit_code == 3 and "absent from the input (more than 50%)" in (cut.aborted or "")
        assert server.app.requests["PATCH"] == 0
        assert {c for c, r in server.app.customers.items() if KEY in (r.get("metadata") or {})} == {"N4"}
        # With scope all, someone else's customer counts too (report only: nothing written).
        everyone = run_import(cfg(server, night(tmp_path / "n5.csv", [1, 2, 3, 5, 6, 7]), tmp_path / "r5",
                                  journal=journal, absent="report", absent_scope="all"))  # fmt: skip
        assert absent_ids(tmp_path / "r5") == {"N4", "X1"} and everyone.exit_code == 0


def test_without_a_journal_the_mappings_marker_sets_the_scope(tmp_path: Path) -> None:
    mapping = write(
        tmp_path / "m.toml",
        '[fields]\ncustomerId = "id"\nname = "name"\n\n[static_metadata]\nsource = "crm"\n',
    )
    with SandboxServer() as server:
        server.app.customers["X1"] = {"id": "x", "customerId": "X1", "name": "Not ours", "metadata": {}}
        run_import(
            cfg(
                server,
                night(tmp_path / "a.csv", [1, 2, 3]),
                tmp_path / "a",
                mapping=mapping,
                use_journal=False,
            )
        )
        found = run_import(cfg(server, night(tmp_path / "b.csv", [1, 2]), tmp_path / "b", mapping=mapping,
                               use_journal=False, absent="report"))  # fmt: skip
        assert absent_ids(tmp_path / "b") == {"N3"} and found.absent == 1


def metrics(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(path.read_text(encoding="utf-8"))
        for s in family.samples
    }


def test_the_metrics_file_matches_the_summary_and_is_rewritten_by_every_run(tmp_path: Path) -> None:
    prom = tmp_path / "textfile" / "kelviq.prom"
    with SandboxServer() as server:
        source = write(tmp_path / "customers.csv", "id,email\nM1,a@example.com\nM2,not-an-email\n")
        summary = run_import(
            cfg(server, source, tmp_path / "r1", use_journal=False, metrics_file=prom, absent="report")
        )
        saved = json.loads((tmp_path / "r1" / "summary.json").read_text())
        got = metrics(prom)
        job = (("job", "customers"),)
        for status, n in saved["counts"].items():
            assert got[("kelviq_import_rows", (("job", "customers"), ("status", status)))] == n
        assert got[("kelviq_import_requests", job)] == saved["requests"]
        assert got[("kelviq_import_exit_code", job)] == 1 == summary.exit_code
        assert got[("kelviq_import_absent_customers", job)] == 0
        success = got[("kelviq_import_last_success_timestamp_seconds", job)]
        # An aborted run (a refused key) rewrites the file, keeping the last success.
        bad = ImportConfig(input=source, base_url=server.base_url, api_key="wrong-key", rate=None,
                           report_dir=tmp_path / "r2", use_journal=False, metrics_file=prom)  # fmt: skip
        assert run_import(bad).exit_code == 3
        after = metrics(prom)
        assert after[("kelviq_import_exit_code", job)] == 3
        assert after[("kelviq_import_last_success_timestamp_seconds", job)] == success
        assert after[("kelviq_import_last_run_timestamp_seconds", job)] >= success
        assert prom.read_text().count("# TYPE kelviq_import_exit_code") == 1  # rewritten, not appended
    # A run refused before it starts (an input error) is written too, as exit 2.
    with pytest.raises(Exception, match="no such file"):
        run_import(
            ImportConfig(input=tmp_path / "missing.csv", api_key="k", metrics_file=prom, job_name="customers")
        )
    assert metrics(prom)[("kelviq_import_exit_code", job)] == 2
    assert list(csv.reader([""]))  # (csv imported for read_csv's sake)


def test_each_shard_reports_only_its_own_absent_customers(tmp_path: Path) -> None:
    """--absent with --shard K/N: each shard compares only its own share of kelviq."""
    from importer.config import Shard

    with SandboxServer() as server:
        for k in range(2):
            run_import(cfg(server, night(tmp_path / "all.csv", list(range(20))), tmp_path / f"a{k}",
                           journal=tmp_path / f"j{k}.sqlite3", shard=f"{k}/2"))  # fmt: skip
        gone = {3, 4, 11}
        found: set[str] = set()
        for k in range(2):
            less = night(tmp_path / "less.csv", [i for i in range(20) if i not in gone])
            summary = run_import(cfg(server, less, tmp_path / f"b{k}", journal=tmp_path / f"j{k}.sqlite3",
                                     shard=f"{k}/2", absent="report"))  # fmt: skip
            mine = absent_ids(tmp_path / f"b{k}")
            assert all(Shard(k, 2).holds(cid, 0) for cid in mine) and summary.absent == len(mine)
            found |= mine
        assert found == {f"N{i}" for i in gone}
