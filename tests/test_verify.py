"""verify alone, against a mocked listing: what it does when the API does not cooperate.
API behaviour relied on: DRF pagination (count/next/previous/results)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from importer.config import ImportConfig, RetryPolicy
from importer.errors import RunAborted
from importer.verify import verify
from tests.helpers import read_csv, write

BASE = "https://api.example.test/api/v1"


def cfg(tmp_path: Path, source: Path) -> ImportConfig:
    return ImportConfig(
        input=source, base_url=BASE, api_key="k", rate=None, report_dir=tmp_path / "v",
        retry=RetryPolicy(attempts=2, backoff_initial=0.001, backoff_max=0.001),
    )  # fmt: skip


def page(results: list[dict[str, object]], next_url: str | None) -> httpx.Response:
    return httpx.Response(200, json={"count": 2, "next": next_url, "previous": None, "results": results})


def test_a_listing_page_that_fails_stops_verify_with_the_page_named(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    source = write(tmp_path / "in.csv", "id,name\nc1,One\n")
    with respx.mock() as api:
        api.get(f"{BASE}/customers/", params={"page": "1"}).mock(
            return_value=page([{"customerId": "c1", "name": "One"}], f"{BASE}/customers/?page=2")
        )
        api.get(f"{BASE}/customers/", params={"page": "2"}).mock(return_value=httpx.Response(500))
        with pytest.raises(RunAborted, match="listing customers failed on page 2"):
            verify(cfg(tmp_path, source), sleep=no_sleep)


def test_pages_are_followed_and_rows_compared_field_by_field(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    source = write(tmp_path / "in.csv", "id,name\nc1,One\nc2,Two\nc3,Three\n")
    with respx.mock() as api:
        api.get(f"{BASE}/customers/", params={"page": "1"}).mock(
            return_value=page([{"customerId": "c1", "name": "One"}], f"{BASE}/customers/?page=2")
        )
        api.get(f"{BASE}/customers/", params={"page": "2"}).mock(
            return_value=page([{"customerId": "c2", "name": "Deux"}], None)
        )
        summary = verify(cfg(tmp_path, source), sleep=no_sleep)
    assert summary.counts == {"different": 1, "match": 1, "missing": 1} and summary.exit_code == 1
    rows = {r["customerId"]: r for r in read_csv(tmp_path / "v" / "verify.csv")}
    assert rows["c2"]["differences"] == "name: file 'Two', kelviq 'Deux'"
    assert rows["c3"]["status"] == "missing"
