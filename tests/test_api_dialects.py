"""Correct whichever way the API says "already exists" or "no such customer".

The spec declares only 201/200. Each test names the behaviour it relies on: the sandbox in its
two dialects (``dialect`` fixture: DRF's 400 field error and 404, or 409 and a 400 message),
or a respx-mocked API for the shapes the sandbox does not speak.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from importer.config import ImportConfig, RetryPolicy
from importer.pipeline import run_import
from importer.sandbox import SandboxServer
from importer.verify import verify
from tests.helpers import Dialect, read_csv, write

pytestmark = pytest.mark.e2e  # whole runs: left out of `make test-fast`

KEY = "sandbox-demo-key"
BASE = "https://api.example.test/api/v1"


def make_csv(path: Path, n: int, *, edited: set[int] = frozenset(), ids: list[str] | None = None) -> Path:  # type: ignore[assignment]
    lines = ["id,email,name,country"]
    for i in range(n):
        cid = ids[i] if ids else f"D{i:04d}"
        name = f"Name {i}" + (" (edited)" if i in edited else "")
        lines.append(f'"{cid}",d{i}@example.com,{name},NL')
    return write(path, "\n".join(lines) + "\n")


def cfg(server: SandboxServer, source: Path, report: Path, **kw: Any) -> ImportConfig:
    return ImportConfig(
        input=source, base_url=server.base_url, api_key=KEY, rate=None, report_dir=report, **kw
    )


def statuses(report: Path) -> Counter[str]:
    return Counter(r["status"] for r in read_csv(report / "results.csv"))


def test_a_second_import_without_a_journal_finds_every_customer(dialect: Dialect, tmp_path: Path) -> None:
    """Relies on: a duplicate POST is refused (either dialect); PATCH updates."""
    source = make_csv(tmp_path / "in.csv", 50)
    with SandboxServer(dialect.options()) as server:
        first = run_import(cfg(server, source, tmp_path / "a", use_journal=False))
        assert first.counts == {"created": 50}
        # A new machine, told not to list kelviq first: every POST is refused and PATCHed.
        again = run_import(cfg(server, source, tmp_path / "b", use_journal=False, baseline="journal"))
        assert again.exit_code == 0 and again.counts == {"updated": 50}
        assert max(server.app.creates_by_id.values()) == 1 and len(server.app.customers) == 50
        # By default it lists kelviq first when that is cheaper (issue 20, case 9): 2 requests.
        server.app.requests.clear()
        listed = run_import(cfg(server, source, tmp_path / "b2", use_journal=False))
        assert listed.counts == {"unchanged": 50} and server.app.requests["total"] == 2
        # With the journal that the first run leaves behind, ten edits are ten PATCHes.
        run_import(cfg(server, source, tmp_path / "c", journal=tmp_path / "j.sqlite3"))
        server.app.requests.clear()
        edited = make_csv(tmp_path / "edited.csv", 50, edited=set(range(0, 50, 5)))
        summary = run_import(cfg(server, edited, tmp_path / "d", journal=tmp_path / "j.sqlite3"))
        assert summary.counts == {"unchanged": 40, "updated": 10}
        assert server.app.requests["PATCH"] == 10 and server.app.requests["POST"] == 0
        assert server.app.customers["D0005"]["name"] == "Name 5 (edited)"


@pytest.mark.parametrize("mode", ["create", "upsert"])
def test_create_mode_and_conflicts(dialect: Dialect, tmp_path: Path, mode: str) -> None:
    """Relies on: a duplicate POST is refused. create: --on-conflict decides; upsert: PATCH."""
    source = make_csv(tmp_path / "in.csv", 6)
    with SandboxServer(dialect.options()) as server:
        run_import(cfg(server, make_csv(tmp_path / "first.csv", 3), tmp_path / "a", use_journal=False))
        summary = run_import(cfg(server, source, tmp_path / "b", mode=mode, use_journal=False))
        if mode == "create":
            assert summary.counts == {"created": 3, "failed": 3}
            errors = [r["error"] for r in read_csv(tmp_path / "b" / "results.csv") if r["status"] == "failed"]
            assert all("already exists in kelviq (--mode create)" in e for e in errors)
            lenient = run_import(
                cfg(server, source, tmp_path / "c", mode="create", on_conflict="unchanged", use_journal=False)
            )
            assert lenient.counts == {"unchanged": 6} and lenient.exit_code == 0
        else:
            # kelviq's list (cheaper than 6 rows of requests) shows the 3 as the file has them.
            assert summary.counts == {"created": 3, "unchanged": 3}


def test_patch_of_an_unknown_customer(dialect: Dialect, tmp_path: Path) -> None:
    """Relies on: PATCH of an unknown id is refused (404, or 400 "does not exist")."""
    source = make_csv(tmp_path / "in.csv", 4)
    journal = tmp_path / "j.sqlite3"
    with SandboxServer(dialect.options()) as server:
        run_import(cfg(server, source, tmp_path / "a", journal=journal))
        server.app.customers.pop("D0001")  # deleted in kelviq since
        edited = make_csv(tmp_path / "e.csv", 4, edited={0, 1, 2, 3})
        upsert = run_import(cfg(server, edited, tmp_path / "b", journal=journal))
        assert upsert.counts == {"updated": 3, "created": 1}
        assert server.app.customers["D0001"]["name"] == "Name 1 (edited)"
        server.app.customers.pop("D0002")
        update = run_import(cfg(server, source, tmp_path / "c", journal=journal, mode="update"))
        assert update.counts == {"updated": 3, "failed": 1}
        failed = read_csv(tmp_path / "c" / "failed.csv")
        assert (
            failed[0]["id"] == "D0002" and "no customer 'D0002' in kelviq" in failed[0]["kelviq_import_error"]
        )


def test_lost_responses_are_created_exactly_once_without_a_journal(dialect: Dialect, tmp_path: Path) -> None:
    """Relies on: a POST applied whose answer was lost is refused as a duplicate on retry."""
    source = make_csv(tmp_path / "in.csv", 200)
    retry = RetryPolicy(attempts=12, backoff_initial=0.001, backoff_max=0.01)
    with SandboxServer(dialect.options(lose_response_rate=0.3, seed=5)) as server:
        for mode in ("create", "upsert"):
            server.app.customers.clear()
            server.app.creates_by_id.clear()
            report = tmp_path / mode
            summary = run_import(
                cfg(server, source, report, mode=mode, use_journal=False, retry=retry, timeout=2)
            )
            assert summary.counts == {"created": 200}, summary.counts
            assert len(server.app.customers) == 200 and max(server.app.creates_by_id.values()) == 1
        assert server.app.requests["lost"] > 20


def _held_against_the_log(report: Path, log: list[tuple[str, str]]) -> Counter[str]:
    """Every row's status is what the sandbox did for it in this run: ``created`` only when it
    created the customer, ``updated`` only when it applied a PATCH, ``unchanged`` when neither."""
    done: dict[str, set[str]] = {}
    for what, cid in log:
        done.setdefault(cid, set()).add(what)
    rows = read_csv(report / "results.csv")
    for row in rows:
        events = done.get(row["customerId"], set())
        expected = "created" if "created" in events else "updated" if "updated" in events else "unchanged"
        assert row["status"] == expected, (row, events)
    return Counter(r["status"] for r in rows)


@pytest.mark.parametrize("faults", ["5xx", "lost"])
def test_an_edited_reimport_without_a_journal_updates_every_customer(
    dialect: Dialect, tmp_path: Path, faults: str
) -> None:
    """Issue 20, cases 1 and 2. Relies on: a duplicate POST is refused (either dialect); with
    routes=spec there is no GET /customers/{id}/ (405), so only the listing's search can show a
    customer; the sandbox's faults (a 5xx before the write, or an answer lost after it)."""
    source = make_csv(tmp_path / "in.csv", 300)
    edited = make_csv(tmp_path / "edited.csv", 300, edited=set(range(300)))
    retry = RetryPolicy(attempts=12, backoff_initial=0.001, backoff_max=0.01)
    fault = {"fault_rate": 0.1} if faults == "5xx" else {"lose_response_rate": 0.1}
    with SandboxServer(dialect.options(seed=3, **fault)) as server:
        first = run_import(cfg(server, source, tmp_path / "a", use_journal=False, retry=retry, timeout=2))
        assert _held_against_the_log(tmp_path / "a", server.app.log) == {"created": 300}
        for name, file in (("edited", edited), ("again", edited)):
            server.app.log.clear()
            summary = run_import(
                cfg(
                    server,
                    file,
                    tmp_path / name,
                    use_journal=False,
                    baseline="journal",
                    retry=retry,
                    timeout=2,
                )
            )
            counts = _held_against_the_log(tmp_path / name, server.app.log)
            assert summary.exit_code == 0 and counts["failed"] == 0 and counts["created"] == 0, counts
        assert max(server.app.creates_by_id.values()) == 1
        assert all(c["name"].endswith("(edited)") for c in server.app.customers.values())
        checked = verify(cfg(server, edited, tmp_path / "v", use_journal=False))
        assert checked.exit_code == 0, checked
        if dialect.routes == "spec":
            # The missing retrieve route is learnt once per run, not asked again for every row.
            assert server.app.requests["405"] <= 2
    assert first.exit_code == 0


def test_ids_with_slash_percent_space_and_hash_are_addressable(dialect: Dialect, tmp_path: Path) -> None:
    """Relies on: the id is one percent-encoded path segment in /customers/{customerId}/."""
    ids = ["a/b", "100%", "with space", "#7", "q?x=1", "Ünïcode"]
    journal = tmp_path / "j.sqlite3"
    with SandboxServer(dialect.options()) as server:
        first = run_import(
            cfg(server, make_csv(tmp_path / "a.csv", 6, ids=ids), tmp_path / "a", journal=journal)
        )
        assert first.counts == {"created": 6}
        edited = make_csv(tmp_path / "b.csv", 6, ids=ids, edited=set(range(6)))
        second = run_import(cfg(server, edited, tmp_path / "b", journal=journal))
        assert second.counts == {"updated": 6}
        assert {cid: c["name"] for cid, c in server.app.customers.items()} == {
            cid: f"Name {i} (edited)" for i, cid in enumerate(ids)
        }
        assert len(server.app.customers) == 6


def test_dot_segment_ids_are_invalid_rows(dialect: Dialect, tmp_path: Path) -> None:
    source = write(tmp_path / "in.csv", "id,name\n.,Dot\n..,Dots\nok,Fine\n")
    with SandboxServer(dialect.options()) as server:
        summary = run_import(cfg(server, source, tmp_path / "r", use_journal=False))
        assert summary.counts == {"created": 1, "invalid": 2}
        assert server.app.requests["PATCH"] == 0 and list(server.app.customers) == ["ok"]
    errors = [r["error"] for r in read_csv(tmp_path / "r" / "results.csv") if r["status"] == "invalid"]
    assert all("dot segment" in e for e in errors)


def test_clear_sends_null_for_emptied_cells_and_verify_checks_it(dialect: Dialect, tmp_path: Path) -> None:
    """Relies on: PATCH with null clears a nullable field (the spec allows null there)."""
    journal = tmp_path / "j.sqlite3"
    full = write(tmp_path / "full.csv", "id,email,name,line2,city\nc1,c1@example.com,Ada,Apt 4,Oslo\n")
    emptied = write(tmp_path / "emptied.csv", "id,email,name,line2,city\nc1,,Ada,,Oslo\n")
    with SandboxServer(dialect.options()) as server:
        run_import(cfg(server, full, tmp_path / "a", journal=journal))
        keep = run_import(cfg(server, emptied, tmp_path / "b", journal=journal))
        assert keep.counts == {"updated": 1}
        assert server.app.customers["c1"]["email"] == "c1@example.com"  # keep: left as it was
        kept = verify(cfg(server, emptied, tmp_path / "v1"))
        assert kept.counts == {"match": 1}
        clear = run_import(cfg(server, emptied, tmp_path / "c", journal=journal, empty="clear"))
        assert clear.counts == {"updated": 1}
        record = server.app.customers["c1"]
        assert record["email"] is None and record["billingAddress"] == {"city": "Oslo", "line2": None}
        assert verify(cfg(server, emptied, tmp_path / "v2", empty="clear")).counts == {"match": 1}
        run_import(cfg(server, full, tmp_path / "d", journal=journal))  # back, then verify sees the diff
        differs = verify(cfg(server, emptied, tmp_path / "v3", empty="clear"))
        assert differs.counts == {"different": 1} and differs.exit_code == 1
        detail = read_csv(tmp_path / "v3" / "verify.csv")[0]["differences"]
        assert "email: file None, kelviq 'c1@example.com'" in detail


def test_verify_sees_a_field_cleared_by_leaving_it_out_that_kelviq_kept(
    dialect: Dialect, tmp_path: Path
) -> None:
    """Issue 20, case 5. Relies on: PATCH applies billingAddress and metadata; a server that
    merges them instead (kelviq's spec says "refer to API behavior for merge strategy") is
    played by putting the old values back, as such a server would have kept them."""
    mapping = write(
        tmp_path / "m.toml",
        '[fields]\ncustomerId = "id"\nname = "name"\n"billingAddress.line1" = "street"\n'
        '"billingAddress.city" = "city"\n\n[metadata]\ntier = "tier"\n',
    )
    full = write(tmp_path / "full.csv", "id,name,street,city,tier\nc1,Ada,Main St 1,Oslo,gold\n")
    emptied = write(tmp_path / "emptied.csv", "id,name,street,city,tier\nc1,Ada,Main St 1,,\n")
    with SandboxServer(dialect.options()) as server:
        run_import(cfg(server, full, tmp_path / "a", mapping=mapping, use_journal=False))
        run_import(cfg(server, emptied, tmp_path / "b", mapping=mapping, use_journal=False, empty="clear"))
        assert verify(cfg(server, emptied, tmp_path / "v1", mapping=mapping, empty="clear")).exit_code == 0
        record = server.app.customers["c1"]  # a merging server keeps what the PATCH left out
        record["billingAddress"] = {**(record["billingAddress"] or {}), "city": "Oslo"}
        record["metadata"] = {**(record["metadata"] or {}), "tier": "gold"}
        checked = verify(cfg(server, emptied, tmp_path / "v2", mapping=mapping, empty="clear"))
        assert checked.counts == {"different": 1} and checked.exit_code == 1
        detail = read_csv(tmp_path / "v2" / "verify.csv")[0]["differences"]
        assert "billingAddress.city: file (cleared), kelviq 'Oslo'" in detail
        assert "metadata.tier: file (cleared), kelviq 'gold'" in detail
        # With keep, leaving a field out promises nothing about it: still a match.
        assert verify(cfg(server, emptied, tmp_path / "v3", mapping=mapping)).exit_code == 0


def test_the_mapping_file_can_choose_clear(dialect: Dialect, tmp_path: Path) -> None:
    mapping = write(tmp_path / "m.toml", 'empty = "clear"\n[fields]\ncustomerId = "id"\nname = "name"\n')
    journal = tmp_path / "j.sqlite3"
    with SandboxServer(dialect.options()) as server:
        run_import(
            cfg(server, write(tmp_path / "a.csv", "id,name\nc1,Ada\n"), tmp_path / "a", journal=journal)
        )
        emptied = write(tmp_path / "b.csv", "id,name\nc1,\n")
        run_import(cfg(server, emptied, tmp_path / "b", journal=journal, mapping=mapping))
        assert server.app.customers["c1"]["name"] is None


# --- answers the sandbox does not give: a mocked API ------------------------------------------


def mocked(tmp_path: Path, source: Path, **kw: Any) -> ImportConfig:
    retry = RetryPolicy(attempts=2, backoff_initial=0.001, backoff_max=0.001)
    return ImportConfig(
        input=source, base_url=BASE, api_key="k-1", rate=None, report_dir=tmp_path / "rep", retry=retry, **kw
    )


LISTING = {"count": 0, "next": None, "previous": None, "results": []}


def test_an_unclear_refusal_is_confirmed_by_a_lookup(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    """Relies on: a POST for an existing id refused with a bare 400 text; GET retrieve works."""
    source = write(tmp_path / "in.csv", "id,name\nold,Old\nnew,New\n")
    with respx.mock(assert_all_called=False) as api:
        api.get(f"{BASE}/customers/").mock(return_value=httpx.Response(200, json=LISTING))
        api.post(f"{BASE}/customers/").mock(
            side_effect=lambda r: httpx.Response(
                400, text="Bad Request", headers={"content-type": "text/plain"}
            )
        )
        api.get(f"{BASE}/customers/old/").mock(
            return_value=httpx.Response(200, json={"id": "u-old", "customerId": "old"})
        )
        api.get(f"{BASE}/customers/new/").mock(
            return_value=httpx.Response(404, json={"detail": "Not found."})
        )
        patch = api.patch(f"{BASE}/customers/old/").mock(
            return_value=httpx.Response(200, json={"id": "u-old", "customerId": "old", "name": "Old"})
        )
        summary = run_import(mocked(tmp_path, source, use_journal=False), sleep=no_sleep)
    assert summary.counts == {"updated": 1, "failed": 1} and patch.call_count == 1
    failed = read_csv(tmp_path / "rep" / "results.csv")
    new = next(r for r in failed if r["customerId"] == "new")
    assert new["status"] == "failed" and new["error"] == "400 (text/plain) Bad Request"  # the API's words


def test_without_a_retrieve_route_the_search_decides(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    """Relies on: GET /customers/{id}/ answering 405 for everything; ?search= finds partial matches."""
    source = write(tmp_path / "in.csv", "id,name\nC1,One\n")
    with respx.mock(assert_all_called=False) as api:

        def listing(request: httpx.Request) -> httpx.Response:
            if request.url.params.get("search") == "C1":  # a partial match first, then the exact one
                results = [{"customerId": "C10"}, {"customerId": "C1", "id": "u1"}]
                return httpx.Response(200, json={**LISTING, "count": 2, "results": results})
            return httpx.Response(200, json=LISTING)

        api.get(f"{BASE}/customers/").mock(side_effect=listing)
        api.post(f"{BASE}/customers/").mock(return_value=httpx.Response(400, json={"message": "rejected"}))
        api.get(f"{BASE}/customers/C1/").mock(return_value=httpx.Response(405, json={"detail": "no"}))
        patch = api.patch(f"{BASE}/customers/C1/").mock(
            return_value=httpx.Response(200, json={"id": "u1", "customerId": "C1"})
        )
        summary = run_import(mocked(tmp_path, source, use_journal=False), sleep=no_sleep)
    assert summary.counts == {"updated": 1} and patch.call_count == 1


def test_an_already_exists_in_another_language_leads_to_a_lookup(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    """Issue 20, case 6. Relies on: a duplicate POST refused with a German message on the
    customerId field; no retrieve route (405); the listing's search shows the customer."""
    source = write(tmp_path / "in.csv", "id,name\nC1,One\nC2,Two\n")
    german = {"customerId": ["Ein Kunde mit dieser Kundennummer ist bereits vorhanden."]}
    with respx.mock(assert_all_called=False) as api:

        def listing(request: httpx.Request) -> httpx.Response:
            if request.url.params.get("search") == "C1":
                return httpx.Response(200, json={**LISTING, "count": 1, "results": [{"customerId": "C1"}]})
            return httpx.Response(200, json=LISTING)

        api.get(f"{BASE}/customers/").mock(side_effect=listing)
        api.post(f"{BASE}/customers/").mock(
            side_effect=lambda r: (
                httpx.Response(400, json=german)
                if b'"C1"' in r.content
                else httpx.Response(400, json={"customerId": ["Länge höchstens 1."]})
            )
        )
        api.get(url__regex=rf"{BASE}/customers/C\d/").mock(
            return_value=httpx.Response(405, json={"detail": "no"})
        )
        patch = api.patch(f"{BASE}/customers/C1/").mock(
            return_value=httpx.Response(200, json={"id": "u1", "customerId": "C1", "name": "One"})
        )
        summary = run_import(mocked(tmp_path, source, use_journal=False, baseline="journal"), sleep=no_sleep)
    assert patch.call_count == 1 and summary.counts == {"updated": 1, "failed": 1}
    rows = {r["customerId"]: r for r in read_csv(tmp_path / "rep" / "results.csv")}
    assert "Länge höchstens 1" in rows["C2"]["error"]  # absent: the API's own words stand


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (
            httpx.Response(
                200, text="<html>Down for maintenance</html>", headers={"content-type": "text/html"}
            ),
            "text/html",
        ),
        (httpx.Response(201, json={"id": "u", "customerId": "someone-else"}), "'someone-else'"),
        (httpx.Response(201, json=["not", "an", "object"]), "not a customer object"),
    ],
)
def test_a_2xx_that_is_not_the_customer_is_a_failed_row_and_not_journaled(
    tmp_path: Path, no_sleep, answer, why
) -> None:  # type: ignore[no-untyped-def]
    """Relies on: a created customer is answered with its own customerId (CustomerResponse)."""
    source = write(tmp_path / "in.csv", "id,name\nc1,One\n")
    with respx.mock(assert_all_called=False) as api:
        api.get(f"{BASE}/customers/").mock(return_value=httpx.Response(200, json=LISTING))
        api.post(f"{BASE}/customers/").mock(return_value=answer)
        summary = run_import(mocked(tmp_path, source, journal=tmp_path / "j.sqlite3"), sleep=no_sleep)
    assert summary.counts == {"failed": 1}
    result = read_csv(tmp_path / "rep" / "results.csv")[0]
    assert why in result["error"]
    from importer.journal import Journal

    with Journal.open(tmp_path / "j.sqlite3", base_url=BASE) as journal:
        assert journal.get("c1") is None


def test_verify_skips_listed_customers_without_a_customer_id(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    """Relies on: a listing may hold records with customerId null (created in the UI)."""
    source = write(tmp_path / "in.csv", "id,name\nc1,One\n")
    page = {
        **LISTING,
        "count": 2,
        "results": [{"customerId": None, "name": "x"}, {"customerId": "c1", "name": "One"}],
    }
    with respx.mock(assert_all_called=False) as api:
        api.get(f"{BASE}/customers/").mock(return_value=httpx.Response(200, json=page))
        summary = verify(mocked(tmp_path, source), sleep=no_sleep)
    assert summary.counts == {"match": 1} and summary.customers_without_id == 1


# --- an API that cannot be reached ------------------------------------------------------------


def test_an_unreachable_api_stops_the_run_at_once(tmp_path: Path) -> None:
    source = make_csv(tmp_path / "in.csv", 20)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "importer", "run", str(source), "--base-url", "http://127.0.0.1:9/api/v1",
         "--timeout", "2", "--report-dir", str(tmp_path / "r")],
        capture_output=True, text=True, env={"KELVIQ_API_KEY": KEY, "PATH": "/usr/bin:/bin"}, timeout=60,
    )  # fmt: skip
    assert time.monotonic() - started < 2 * 2 + 3  # the interpreter's start-up included
    assert proc.returncode == 3, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "127.0.0.1" in line]
    assert errors and "cannot reach the API at 127.0.0.1" in errors[0] and "Traceback" not in proc.stderr
    results = read_csv(tmp_path / "r" / "results.csv")
    assert {r["status"] for r in results} == {"not_sent"} and len(results) == 20
    assert read_csv(tmp_path / "r" / "failed.csv") == []  # nothing to fix: run it again later
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["counts"] == {"not_sent": 20}


def test_an_api_that_goes_away_mid_run_aborts_with_rows_not_sent(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    source = make_csv(tmp_path / "in.csv", 60)
    seen = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal seen
        seen += 1
        if seen > 10:
            raise httpx.ConnectError("[Errno 111] Connection refused")
        body = json.loads(request.content)
        return httpx.Response(201, json={"id": "u", **body})

    retry = RetryPolicy(attempts=50, backoff_initial=0.001, backoff_max=0.001, unreachable_after=0.0)
    with respx.mock(assert_all_called=False) as api:
        api.get(f"{BASE}/customers/").mock(return_value=httpx.Response(200, json=LISTING))
        api.post(f"{BASE}/customers/").mock(side_effect=flaky)
        summary = run_import(
            ImportConfig(input=source, base_url=BASE, api_key="k", rate=None, concurrency=1,
                         report_dir=tmp_path / "rep", retry=retry, use_journal=False),
            sleep=no_sleep,
        )  # fmt: skip
    assert summary.exit_code == 3 and "unreachable" in (summary.aborted or "")
    assert summary.counts == {"created": 10, "not_sent": 50}
