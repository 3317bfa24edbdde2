"""The API client's retry, backoff and abort rules, against respx-mocked HTTP."""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import pytest
import respx

from importer.client import KelviqClient, RetryPolicy, parse_retry_after
from importer.errors import AuthenticationError

BASE = "https://api.example.test/api/v1"
PAYLOAD = {"customerId": "c-1", "name": "Ada"}


def created(cid: str = "c-1") -> httpx.Response:
    return httpx.Response(201, json={"id": "uuid-1", "customerId": cid})


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def create(no_sleep, payload=PAYLOAD, **kw):  # type: ignore[no-untyped-def]
    async with KelviqClient(BASE, "secret-key", rate=None, sleep=no_sleep, **kw) as api:
        return await api.create(payload)


@respx.mock
def test_503_then_201_is_created_on_the_second_attempt(no_sleep) -> None:
    route = respx.post(f"{BASE}/customers/").mock(side_effect=[httpx.Response(503), created()])
    outcome = run(create(no_sleep))
    assert outcome.ok and outcome.http_status == 201 and outcome.attempts == 2
    assert outcome.kelviq_id == "uuid-1"
    assert route.call_count == 2
    assert len(no_sleep.calls) == 1 and 0 <= no_sleep.calls[0] <= 30


@respx.mock
def test_429_with_retry_after_waits_that_long(no_sleep) -> None:
    respx.post(f"{BASE}/customers/").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), created()]
    )
    outcome = run(create(no_sleep))
    assert outcome.ok and outcome.attempts == 2
    assert len(no_sleep.calls) == 1 and 7.0 <= no_sleep.calls[0] <= 9.0  # what it asked, plus jitter


@respx.mock
def test_retry_after_as_http_date(no_sleep) -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    respx.post(f"{BASE}/customers/").mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": when}), created()]
    )
    assert run(create(no_sleep)).ok
    assert 17 <= no_sleep.calls[0] <= 22  # the date, plus at most 2 s of jitter


@respx.mock
def test_400_is_sent_once_and_reports_the_apis_message(no_sleep) -> None:
    route = respx.post(f"{BASE}/customers/").mock(
        return_value=httpx.Response(400, json={"status": "Bad request", "message": "email: invalid"})
    )
    outcome = run(create(no_sleep))
    assert not outcome.ok and outcome.http_status == 400 and outcome.attempts == 1
    assert outcome.error == "400 email: invalid"
    assert route.call_count == 1 and no_sleep.calls == []


@respx.mock
def test_409_and_422_are_not_retried(no_sleep) -> None:
    route = respx.post(f"{BASE}/customers/").mock(
        side_effect=[
            httpx.Response(409, json={"message": "exists"}),
            httpx.Response(422, json={"email": ["bad"]}),
        ]
    )
    first, second = run(create(no_sleep)), run(create(no_sleep))
    assert (first.http_status, second.http_status) == (409, 422)
    assert second.error == "422 email: bad"
    assert route.call_count == 2


@pytest.mark.parametrize("status", [401, 403])
@respx.mock
def test_auth_failure_raises_instead_of_returning_a_row_error(no_sleep, status: int) -> None:
    route = respx.post(f"{BASE}/customers/").mock(
        return_value=httpx.Response(status, json={"detail": "nope"})
    )
    with pytest.raises(AuthenticationError) as info:
        run(create(no_sleep))
    assert info.value.status == status and info.value.exit_code == 3
    assert "secret-key" not in str(info.value)
    assert route.call_count == 1


@respx.mock
def test_connection_errors_and_timeouts_are_retried_then_given_up(no_sleep) -> None:
    route = respx.post(f"{BASE}/customers/").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(502)]
    )
    outcome = run(create(no_sleep, retry=RetryPolicy(attempts=3)))
    assert not outcome.ok and outcome.attempts == 3 and outcome.http_status == 502
    assert outcome.error is not None and outcome.error.startswith("gave up after 3 attempts")
    assert route.call_count == 3 and len(no_sleep.calls) == 2


@respx.mock
def test_backoff_grows_and_is_capped(no_sleep) -> None:
    """Full jitter: wait i is uniform in [0, min(cap, initial * 2**i)], so the bound doubles
    until the cap; over many runs the later waits are longer on average than the first."""
    respx.post(f"{BASE}/customers/").mock(return_value=httpx.Response(500))
    policy = RetryPolicy(attempts=8, backoff_initial=1.0, backoff_max=5.0)
    runs = []
    for _ in range(60):
        no_sleep.calls.clear()
        run(create(no_sleep, retry=policy))
        assert len(no_sleep.calls) == 7
        assert all(0 <= s <= min(5.0, 1.0 * 2**i) for i, s in enumerate(no_sleep.calls))
        runs.append(list(no_sleep.calls))
    mean = [sum(r[i] for r in runs) / len(runs) for i in range(7)]
    assert mean[0] < 0.75 < mean[3] and max(max(r) for r in runs) > 4.0  # it grows, up to the cap


@respx.mock
def test_a_429_that_says_nothing_is_retried_in_about_a_second_growing_slowly(no_sleep) -> None:
    """API behaviour relied on: a limit or a quota window answered 429 with no Retry-After.
    Full jitter from zero spent a row's tries inside one window (waits near 0) and left the
    last rows waiting up to 30 s: a run against 2 s windows ended with 13 s of single rows.
    Now the first wait is 0.5-1.5 s and each one a quarter longer, and the 20 tries still span
    minutes, as the doubling did (a longer window that says nothing fails no row)."""
    respx.post(f"{BASE}/customers/").mock(return_value=httpx.Response(429))
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=30.0)
    for _ in range(20):
        no_sleep.calls.clear()
        outcome = run(create(no_sleep, retry=policy))
        assert not outcome.ok and len(no_sleep.calls) == 19
        for i, waited in enumerate(no_sleep.calls):
            assert 0.5 * 1.25**i <= waited <= min(30.0, 1.5 * 1.25**i) + 1e-9
        # Out of a window of a few seconds within a few tries; past one of a minute in all.
        assert sum(no_sleep.calls[:4]) < 10 and sum(no_sleep.calls) > 100


@respx.mock
def test_bearer_key_and_json_body_are_sent(no_sleep) -> None:
    route = respx.post(f"{BASE}/customers/").mock(return_value=created())
    run(create(no_sleep))
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer secret-key"
    assert request.headers["Content-Type"] == "application/json"
    assert request.read() == b'{"customerId":"c-1","name":"Ada"}'


@respx.mock
def test_update_patches_by_customer_id_without_it_in_the_body(no_sleep) -> None:
    route = respx.patch(f"{BASE}/customers/a%2Fb/").mock(
        return_value=httpx.Response(200, json={"id": "u", "customerId": "a/b"})
    )

    async def go():  # type: ignore[no-untyped-def]
        async with KelviqClient(BASE, "k", rate=None, sleep=no_sleep) as api:
            return await api.update("a/b", {"customerId": "a/b", "name": "N"})

    assert run(go()).ok
    assert route.calls.last.request.read() == b'{"name":"N"}'


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("99999") == 300.0
    assert parse_retry_after("9" * 400) == 300.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    # Issue 21, case 9: RFC 9110 delay-seconds are digits; float() took these and waited 300 s
    # (inf, 1_000) or not at all (nan). Anything else counts as absent: the usual backoff.
    for bad in ("inf", "nan", "1_000", "-4", "0.5", "1e3", "٣", "soon", "", None):
        assert parse_retry_after(bad) is None, bad


@respx.mock
def test_429s_do_not_use_up_the_rows_failure_allowance(no_sleep) -> None:
    # A busy API throttling a row eight times is pacing, not failing: with 3 attempts for
    # failures the row still goes through.
    throttled = [httpx.Response(429, headers={"Retry-After": "1"})] * 8
    route = respx.post(f"{BASE}/customers/").mock(side_effect=[*throttled, httpx.Response(503), created()])
    outcome = run(create(no_sleep, retry=RetryPolicy(attempts=3)))
    assert outcome.ok and outcome.attempts == 10 and route.call_count == 10
    # Jittered waits: at least the second asked for, never all the same instant.
    waits = no_sleep.calls[:8]
    assert all(1.0 <= w <= 2.0 for w in waits) and len(set(waits)) > 1


@respx.mock
def test_an_api_that_only_ever_says_429_still_ends(no_sleep) -> None:
    route = respx.post(f"{BASE}/customers/").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "1"})
    )
    outcome = run(create(no_sleep, retry=RetryPolicy(attempts=3)))
    assert not outcome.ok and outcome.http_status == 429 and route.call_count == 20
    assert outcome.error is not None and outcome.error.startswith("gave up after 20 attempts: 429")
