"""Stateless runners: a run with a new journal compares rows with kelviq's own list first.

API behaviour relied on: the listing pages with DRF's ``count``/``next``/``results`` and returns
each customer as the POST created it (the sandbox does both); the dialect fixture runs each
test with duplicates answered as DRF's 400 and as 409.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from importer.pipeline import run_import
from importer.sandbox import SandboxServer
from tests.helpers import Dialect, read_csv
from tests.test_nightly import cfg, make_csv

pytestmark = pytest.mark.e2e


def requests_during(server: SandboxServer, run: object) -> Counter[str]:
    before = Counter(server.app.requests)
    run()  # type: ignore[operator]
    return Counter(server.app.requests) - before


def test_a_fresh_journal_sends_only_the_changed_rows(dialect: Dialect, tmp_path: Path) -> None:
    changed = frozenset(range(0, 300, 30))  # 10 rows renamed
    with SandboxServer(dialect.options()) as server:
        run_import(cfg(server, make_csv(tmp_path / "day1.csv", 300), tmp_path, "day1"))
        # The next night on a new runner: the same export with 10 names changed, no journal.
        source = make_csv(tmp_path / "day2.csv", 300, changed=changed)
        fresh = tmp_path / "runner2" / "journal.sqlite3"
        summaries = []
        sent = requests_during(
            server, lambda: summaries.append(run_import(cfg(server, source, tmp_path, "day2", journal=fresh)))
        )
        summary = summaries[0]
        assert summary.counts == {"unchanged": 290, "updated": 10}
        # One pre-flight and 3 pages of 100, then only the 10 PATCHes: no POST at all.
        assert (sent["GET"], sent["PATCH"], sent["POST"]) == (4, 10, 0)
        assert summary.baseline == "kelviq's list: 300 customers in 3 pages"
        assert server.app.customers["C000030"]["name"] == "Customer 30 (renamed)"
        # The listing seeded the new journal: the night after, nothing is sent or listed.
        again = requests_during(
            server, lambda: summaries.append(run_import(cfg(server, source, tmp_path, "day3", journal=fresh)))
        )
        assert summaries[1].counts == {"unchanged": 300} and again["total"] == 0


def test_without_the_baseline_every_row_is_sent_again(dialect: Dialect, tmp_path: Path) -> None:
    """The cost the baseline saves: with the journal alone, a new runner re-sends every row."""
    with SandboxServer(dialect.options()) as server:
        run_import(cfg(server, make_csv(tmp_path / "day1.csv", 100), tmp_path, "day1"))
        source = make_csv(tmp_path / "day2.csv", 100)
        fresh = tmp_path / "runner2" / "journal.sqlite3"
        sent = requests_during(
            server, lambda: run_import(cfg(server, source, tmp_path, "d2", journal=fresh, baseline="journal"))
        )
        assert sent["POST"] == 100 and sent["PATCH"] == 100


def test_auto_does_not_list_an_account_larger_than_the_file(dialect: Dialect, tmp_path: Path) -> None:
    """A 2-row delta file against 300 customers: 3 pages would cost more than 2 rows."""
    with SandboxServer(dialect.options()) as server:
        run_import(cfg(server, make_csv(tmp_path / "all.csv", 300), tmp_path, "all"))
        delta = make_csv(tmp_path / "delta.csv", 2, changed=frozenset({1}))
        fresh = tmp_path / "runner2" / "journal.sqlite3"
        summaries = []
        sent = requests_during(
            server, lambda: summaries.append(run_import(cfg(server, delta, tmp_path, "delta", journal=fresh)))
        )
        assert sent["GET"] == 1  # the pre-flight only
        assert summaries[0].baseline is not None and summaries[0].baseline.startswith("not listed")
        assert summaries[0].counts == {"updated": 2}


def test_baseline_kelviq_trusts_kelviq_over_the_journal(dialect: Dialect, tmp_path: Path) -> None:
    """Customers deleted or edited in kelviq since the journal recorded them are put right."""
    source = make_csv(tmp_path / "in.csv", 20)
    with SandboxServer(dialect.options()) as server:
        run_import(cfg(server, source, tmp_path, "first"))
        del server.app.customers["C000003"]
        server.app.customers["C000004"]["name"] = "edited in the kelviq UI"
        trusting = run_import(cfg(server, source, tmp_path, "journal-only"))
        assert trusting.counts == {"unchanged": 20}  # the journal cannot know
        checked = run_import(cfg(server, source, tmp_path, "checked", baseline="kelviq"))
        assert checked.counts == {"created": 1, "unchanged": 18, "updated": 1}
        assert server.app.customers["C000004"]["name"] == "Customer 4"
        results = {r["customerId"]: r["status"] for r in read_csv(tmp_path / "checked" / "results.csv")}
        assert results["C000003"] == "created" and results["C000004"] == "updated"


def test_a_journal_that_knows_few_of_the_file_still_lists_kelviq_when_cheaper(
    dialect: Dialect, tmp_path: Path
) -> None:
    """Issue 20, case 9: only a brand-new journal used to list, and --no-journal never did."""
    with SandboxServer(dialect.options()) as server:
        journal = tmp_path / "j.sqlite3"
        run_import(cfg(server, make_csv(tmp_path / "few.csv", 3), tmp_path, "few", journal=journal))
        run_import(cfg(server, make_csv(tmp_path / "all.csv", 300), tmp_path, "all", use_journal=False))
        source = make_csv(tmp_path / "export.csv", 300)
        summaries = []
        sent = requests_during(
            server, lambda: summaries.append(run_import(cfg(server, source, tmp_path, "n", journal=journal)))
        )
        assert summaries[0].counts == {"unchanged": 300}
        assert (sent["GET"], sent["POST"], sent["PATCH"]) == (4, 0, 0)  # pre-flight + 3 pages
        # Without a journal at all: the same 4 requests, where sending would cost 600.
        sent = requests_during(
            server,
            lambda: summaries.append(run_import(cfg(server, source, tmp_path, "m", use_journal=False))),
        )
        assert summaries[1].counts == {"unchanged": 300} and sent["total"] == 4
        # A journal that covers the file: no listing and no request at all.
        sent = requests_during(
            server, lambda: summaries.append(run_import(cfg(server, source, tmp_path, "k", journal=journal)))
        )
        assert summaries[2].counts == {"unchanged": 300} and sent["total"] == 0
