"""The run as a whole with HTTP mocked by respx: payloads, aborts, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jsonschema
import pytest
import respx

from importer.config import ImportConfig
from importer.errors import UsageError
from importer.pipeline import run_import
from tests.helpers import SAMPLE, SHARED_DATA, read_csv, schema, write

BASE = "https://api.example.test/api/v1"


def cfg(tmp_path: Path, input: Path, **kw) -> ImportConfig:  # type: ignore[no-untyped-def]
    kw.setdefault("rate", None)
    kw.setdefault("report_dir", tmp_path / "rep")
    return ImportConfig(input=input, base_url=BASE, api_key="k-123", **kw)


def mock_api(post_side_effect=None):  # type: ignore[no-untyped-def]
    """A DRF-like API holding nobody: the listing is empty, a retrieve answers 404 JSON."""
    router = respx.mock(assert_all_called=False)
    router.get(f"{BASE}/customers/", name="list").mock(
        return_value=httpx.Response(200, json={"count": 0, "next": None, "previous": None, "results": []})
    )
    router.get(url__regex=rf"^{BASE}/customers/[^/?]+/$", name="retrieve").mock(
        return_value=httpx.Response(404, json={"detail": "Not found."})
    )

    def created(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(201, json={"id": f"id-{body['customerId']}", **body})

    router.post(f"{BASE}/customers/", name="create").mock(side_effect=post_side_effect or created)
    return router


@pytest.mark.parametrize(
    ("input", "mapping"),
    [
        (SAMPLE / "customers.csv", SAMPLE / "mapping.example.toml"),
        (SAMPLE / "customers.xlsx", None),
        (SHARED_DATA / "datablist-customers-20.csv", SAMPLE / "datablist.mapping.toml"),
        (SHARED_DATA / "datablist-customers-20.csv", None),
    ],
)
def test_every_payload_sent_conforms_to_the_spec(
    tmp_path: Path, input: Path, mapping: Path | None, no_sleep
) -> None:  # type: ignore[no-untyped-def]
    create_schema = schema("CustomerCreateRequest")
    # The spec leaves extra fields open; we hold ourselves to the documented ones.
    create_schema["additionalProperties"] = False
    create_schema["properties"]["billingAddress"]["additionalProperties"] = False
    validator = jsonschema.Draft7Validator(
        create_schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    with mock_api() as router:  # respx forgets its calls on exit: read them inside
        summary = run_import(cfg(tmp_path, input, mapping=mapping), sleep=no_sleep)
        bodies = [json.loads(call.request.content) for call in router["create"].calls]
    assert bodies and len(bodies) == summary.counts["created"]
    for body in bodies:
        validator.validate(body)
        assert body["customerId"].strip() == body["customerId"] != ""
    assert len({b["customerId"] for b in bodies}) == len(bodies)


def test_a_key_revoked_mid_run_aborts_after_a_handful_of_requests(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    with mock_api(post_side_effect=httpx.Response(401, json={"detail": "Invalid API key."})) as router:
        summary = run_import(cfg(tmp_path, SAMPLE / "customers.csv", concurrency=4), sleep=no_sleep)
        creates = router["create"].call_count
    assert summary.exit_code == 3
    assert summary.aborted == "authentication refused by the API (401): Invalid API key."
    assert 1 <= creates <= 4  # the ones already in flight, no more
    results = read_csv(tmp_path / "rep" / "results.csv")
    assert len(results) == 300
    assert sum(r["error"].startswith("not sent: run aborted") for r in results) >= 290
    assert "k-123" not in (tmp_path / "rep" / "results.csv").read_text()


def test_a_refused_key_is_found_by_one_request(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    router = respx.mock(assert_all_called=False)
    listing = router.get(f"{BASE}/customers/").mock(
        return_value=httpx.Response(403, json={"detail": "Forbidden"})
    )
    create = router.post(f"{BASE}/customers/")
    with router:
        summary = run_import(cfg(tmp_path, SAMPLE / "customers.csv"), sleep=no_sleep)
        assert summary.exit_code == 3 and listing.call_count == 1 and create.call_count == 0


def test_rows_failing_after_retries_are_failed_and_the_rest_go_on(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    # API behaviour relied on: DRF field errors for a validation failure (no lookup needed).
    def flaky(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["customerId"] == "b":
            return httpx.Response(503, json={"message": "down"})
        if body["customerId"] == "c":
            return httpx.Response(400, json={"name": ["Ensure this field has no more than 3 characters."]})
        return httpx.Response(201, json={"id": "x", **body})

    path = write(tmp_path / "in.csv", "id,name\na,A\nb,B\nc,C\n")
    with mock_api(flaky):
        summary = run_import(cfg(tmp_path, path), sleep=no_sleep)
    assert summary.counts == {"created": 1, "failed": 2} and summary.exit_code == 1
    results = {r["customerId"]: r for r in read_csv(tmp_path / "rep" / "results.csv")}
    assert results["b"]["attempts"] == "6" and results["b"]["http_status"] == "503"
    assert results["c"] == {
        "row": "4",
        "customerId": "c",
        "status": "failed",
        "http_status": "400",
        "kelviq_id": "",
        "attempts": "1",
        "error": "400 name: Ensure this field has no more than 3 characters.",
    }
    failed = read_csv(tmp_path / "rep" / "failed.csv")
    assert sorted((f["id"], f["name"]) for f in failed) == [("b", "B"), ("c", "C")]


def test_server_text_that_looks_like_a_formula_is_neutralised(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path / "in.csv", "id,name\n=cmd,=HYPERLINK()\n")
    evil = httpx.Response(400, json={"message": '=HYPERLINK("http://x")'})
    with mock_api(post_side_effect=evil):
        run_import(cfg(tmp_path, path), sleep=no_sleep)
    result = read_csv(tmp_path / "rep" / "results.csv")[0]
    assert result["error"] == '400 =HYPERLINK("http://x")'  # never at the start of a cell
    for name, column in (("results.csv", "error"), ("failed.csv", "kelviq_import_error")):
        for line in read_csv(tmp_path / "rep" / name):
            assert not line[column].startswith(("=", "+", "-", "@")), line
    failed = read_csv(tmp_path / "rep" / "failed.csv")[0]
    assert failed["id"] == "=cmd" and failed["name"] == "=HYPERLINK()"  # the user's own cells, as given


def test_dry_run_sends_nothing_and_needs_no_key(tmp_path: Path) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        summary = run_import(
            ImportConfig(input=SAMPLE / "customers.csv", dry_run=True, report_dir=tmp_path / "rep")
        )
        assert router.calls.call_count == 0
    assert summary.counts == {"valid": 293, "invalid": 7} and summary.exit_code == 1


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"api_key": ""}, "no API key"),
        ({"base_url": "http://api.kelviq.com/api/v1"}, "plain http"),
        ({"base_url": "ftp://x"}, "not an http"),
        ({"concurrency": 0}, "--concurrency"),
    ],
)
def test_bad_settings_are_refused_before_any_work(tmp_path: Path, kw, message: str) -> None:  # type: ignore[no-untyped-def]
    args = {"input": SAMPLE / "customers.csv", "api_key": "k", **kw}
    with pytest.raises(UsageError, match=message):
        ImportConfig(**args)


def test_plain_http_is_allowed_to_loopback() -> None:
    ImportConfig(input=Path("x.csv"), api_key="k", base_url="http://127.0.0.1:8765/api/v1")
    ImportConfig(input=Path("x.csv"), api_key="k", base_url="http://localhost:8765/api/v1")


# --- the library in a host: signals, event loops ----------------------------------------------


def test_the_hosts_signal_handlers_are_left_alone_or_restored_exactly(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    """An Airflow or Celery worker that calls run_import keeps its own SIGTERM/SIGINT handlers."""
    import signal

    def host_handler(signum: int, frame: object) -> None:  # pragma: no cover - never called
        pass

    seen_during: list[object] = []
    old_term, old_int = (
        signal.signal(signal.SIGTERM, host_handler),
        signal.signal(signal.SIGINT, host_handler),
    )
    try:
        with mock_api():
            run_import(
                cfg(tmp_path, SAMPLE / "customers.csv", use_journal=False),
                sleep=no_sleep,
                on_result=lambda r: seen_during.append(signal.getsignal(signal.SIGTERM)),
            )
            assert set(seen_during) == {host_handler}  # not asked: never touched, even during the run
            run_import(
                cfg(tmp_path, SAMPLE / "customers.csv", use_journal=False, report_dir=tmp_path / "b"),
                sleep=no_sleep,
                handle_signals=True,
            )
        assert signal.getsignal(signal.SIGTERM) is host_handler  # asked: restored exactly
        assert signal.getsignal(signal.SIGINT) is host_handler
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)


def test_inside_a_running_loop_use_arun_import(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from importer import arun_import

    async def host() -> tuple[str, dict[str, int]]:
        try:
            run_import(cfg(tmp_path, SAMPLE / "customers.csv", use_journal=False), sleep=no_sleep)
        except UsageError as exc:
            refused = str(exc)
        summary = await arun_import(
            cfg(tmp_path, SAMPLE / "customers.csv", use_journal=False), sleep=no_sleep
        )
        return refused, summary.counts

    with mock_api():
        refused, counts = asyncio.run(host())
    assert "arun_import" in refused
    assert counts == {"created": 293, "invalid": 7}


def test_the_duplicate_message_counts_the_rows_it_leaves_out(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "id,name\n" + "X,a\n" * 8)
    summary = run_import(cfg(tmp_path, path, dry_run=True))
    first = read_csv(tmp_path / "rep" / "results.csv")[0]
    assert summary.counts == {"invalid": 8}
    assert "(8 times; also rows 3, 4, 5, 6, 7 and 2 more)" in first["error"]


def test_the_client_paces_every_attempt(tmp_path: Path, no_sleep) -> None:  # type: ignore[no-untyped-def]
    """config.rate reaches the pacer, and every request (pre-flight included) passes it."""
    from importer.ratelimit import Pacer

    acquired: list[float] = []
    real = Pacer.acquire

    async def counting(self: Pacer) -> None:
        acquired.append(self.rate)
        await real(self)

    source = write(tmp_path / "in.csv", "id,name\n" + "".join(f"p{i},N\n" for i in range(5)))
    with mock_api() as router, pytest.MonkeyPatch.context() as mp:
        mp.setattr(Pacer, "acquire", counting)
        run_import(cfg(tmp_path, source, use_journal=False, rate=1000.0), sleep=no_sleep)
        assert len(acquired) == router.calls.call_count == 6 and set(acquired) == {1000.0}
