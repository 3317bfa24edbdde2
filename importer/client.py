"""The kelviq customers API as the importer uses it: one AsyncClient, retries, a rate limit.

Which failures are retried is explicit: 429, 500, 502, 503, 504, timeouts and connection
errors. ``Retry-After`` (seconds or an HTTP date) is honoured; otherwise the wait is
exponential with full jitter. Every attempt, retries included, passes the shared pacer,
which also slows down when the API answers 429 or 503 and speeds up again (ratelimit.py).
401 and 403 raise ``AuthenticationError``: one bad key must not turn into a million error rows.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_random_exponential,
)

from . import __version__
from .errors import AuthenticationError
from .ratelimit import Pacer

__all__ = ["KelviqClient", "Outcome", "RetryPolicy", "TransientError"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 300.0
POOL_SIZE = 8
THROTTLED_ATTEMPTS = 20  # tries of one request answered 429, apart from RetryPolicy.attempts

Sleep = Callable[[float], Awaitable[None]]

# Which of the client's connection pools the current task uses (see KelviqClient.use_lane).
_lane: contextvars.ContextVar[int | None] = contextvars.ContextVar("kelviq_lane", default=None)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request before reporting its row as failed."""

    attempts: int = 6  # failures (5xx, timeouts, dropped connections); 429s count apart
    max_elapsed: float = 600.0  # seconds from the first attempt; bounds a row's total time
    backoff_initial: float = 0.5
    backoff_max: float = 30.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the API finally said about one customer."""

    ok: bool
    http_status: int | None
    kelviq_id: str | None
    attempts: int
    error: str | None
    body: dict[str, Any] | None = None


class _GaveUp(Exception):
    def __init__(self, error: TransientError, attempts: int) -> None:
        self.error = error
        self.attempts = attempts


class TransientError(Exception):
    """A failure worth retrying: rate limited, server error, timeout or broken connection."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def error_message(response: httpx.Response) -> str:
    """The API's own words for an error: ErrorResponse.message, detail, or field errors."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().replace("\n", " ")
        return text[:300] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
        parts = []
        for key, value in body.items():
            if isinstance(value, list):
                value = " ".join(str(v) for v in value)
            parts.append(f"{key}: {value}")
        if parts:
            return "; ".join(parts)[:300]
    return str(body)[:300]


class KelviqClient:
    """Async client for /customers/. Use as ``async with KelviqClient(...) as api:``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        concurrency: int = 8,
        rate: float | None = 10.0,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        on_retry: Callable[[str, float], None] | None = None,
        on_response: Callable[[float, int | None], None] | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._retry_policy = retry or RetryPolicy()
        self._sleep = sleep or asyncio.sleep
        self._random = random.Random()
        self._on_retry = on_retry
        self._on_response = on_response  # (seconds, HTTP status or None), after every attempt
        self.pacer = Pacer(rate) if rate else None
        headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": f"kelviq-import/{__version__}",
            "Accept": "application/json",
        }
        # httpcore's connection pool costs more per request the larger it is (measured: one
        # pool of 64 connections gives a tenth of the throughput of eight pools of eight), so
        # large concurrency is spread over several clients of at most POOL_SIZE connections.
        pools = 1 if transport is not None else -(-concurrency // POOL_SIZE)
        per_pool = -(-concurrency // pools)
        self._clients = [
            httpx.AsyncClient(
                base_url=self._base_url,
                headers=headers,
                timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                limits=httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool),
                transport=transport,
                follow_redirects=False,
            )
            for _ in range(pools)
        ]
        self._next = itertools.cycle(self._clients)
        # Absolute URLs, parsed once where constant: httpx otherwise parses the path and
        # re-parses base_url + path on every request (measured: ~15% of the client's CPU).
        self._create_url = httpx.URL(self._base_url + "/customers/")

    def use_lane(self, worker: int) -> None:
        """Pin the calling task (a worker) to one connection pool for all its requests.

        With workers spread round-robin per request, a pool now and then holds more requests
        than connections and the extra ones queue for a whole round trip; pinned, each pool
        serves exactly as many workers as it has connections (measured at concurrency 64 and
        50 ms latency: 89% -> 91% of the ideal; bench/RESULTS.md).
        """
        _lane.set(worker)

    async def __aenter__(self) -> KelviqClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self._clients:
            await client.aclose()

    async def create(self, payload: dict[str, Any]) -> Outcome:
        return await self._send("POST", "/customers/", payload)

    async def update(self, customer_id: str, payload: dict[str, Any]) -> Outcome:
        body = {k: v for k, v in payload.items() if k != "customerId"}
        return await self._send("PATCH", f"/customers/{_quote(customer_id)}/", body)

    async def list_page(self, *, page: int = 1, page_size: int = 100, search: str | None = None) -> Outcome:
        params: dict[str, str | int] = {"page": page, "page_size": page_size}
        if search:
            params["search"] = search
        return await self._send("GET", "/customers/", None, params=params)

    async def check_credentials(self) -> None:
        """One cheap request before the bulk: a refused key stops the run before any row."""
        await self.list_page(page=1, page_size=1)

    async def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: dict[str, str | int] | None = None,
    ) -> Outcome:
        # Most requests succeed at once: the retry machinery is only built for those that
        # do not (it cost ~15% of the client's CPU time per request when always set up).
        try:
            response = await self._attempt(method, path, body, params)
            attempts = 1
        except TransientError as first:
            try:
                response, attempts = await self._retry(first, method, path, body, params)
            except _GaveUp as exc:
                error = exc.error
                return Outcome(
                    False, error.status, None, exc.attempts, f"gave up after {exc.attempts} attempts: {error}"
                )
        status = response.status_code
        if status in (401, 403):
            raise AuthenticationError(status, error_message(response))
        if 200 <= status < 300:
            try:
                data = response.json()
            except ValueError:
                data = None
            kelviq_id = data.get("id") if isinstance(data, dict) else None
            return Outcome(True, status, kelviq_id, attempts, None, data if isinstance(data, dict) else None)
        return Outcome(False, status, None, attempts, f"{status} {error_message(response)}")

    async def _retry(
        self,
        first: TransientError,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: dict[str, str | int] | None,
    ) -> tuple[httpx.Response, int]:
        policy = self._retry_policy
        backoff = wait_random_exponential(multiplier=policy.backoff_initial, max=policy.backoff_max)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, TransientError) and exc.retry_after is not None:
                # At least what the API asked, plus a little jitter: every request throttled
                # in one burst is told the same Retry-After, and retrying all at the same
                # instant walks them straight into the next burst.
                return exc.retry_after + self._random.uniform(0, min(max(exc.retry_after, 0.2), 2.0))
            return float(backoff(state))

        failures = throttled = 0

        def stop(state: RetryCallState) -> bool:
            # A 429 is the API pacing us, not a failure of this row: it has an allowance of its
            # own (at least THROTTLED_ATTEMPTS), so that a busy API does not fail rows that
            # merely waited their turn, while one that only ever says 429 still ends.
            nonlocal failures, throttled
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, TransientError) and exc.status == 429:
                throttled += 1
            else:
                failures += 1
            return (
                failures >= policy.attempts
                or throttled >= max(policy.attempts, THROTTLED_ATTEMPTS)
                or (state.seconds_since_start or 0.0) >= policy.max_elapsed
            )

        def before_sleep(state: RetryCallState) -> None:
            if self._on_retry and state.outcome is not None and state.next_action is not None:
                self._on_retry(str(state.outcome.exception()), state.next_action.sleep)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop,
            wait=wait,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        attempts = 0
        pending: TransientError | None = first
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if pending is not None:  # the first attempt, already made by _send
                        error, pending = pending, None
                        raise error
                    response = await self._attempt(method, path, body, params)
        except TransientError as exc:
            raise _GaveUp(exc, attempts) from None
        return response, attempts

    async def _attempt(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: dict[str, str | int] | None,
    ) -> httpx.Response:
        pacer = self.pacer
        if pacer is not None:
            await pacer.acquire()
        started = time.perf_counter()
        try:
            url = self._create_url if path == "/customers/" else self._base_url + path
            lane = _lane.get()
            client = next(self._next) if lane is None else self._clients[lane % len(self._clients)]
            response = await client.request(method, url, json=body, params=params)
        except httpx.TimeoutException as exc:
            self._responded(started, None)
            raise TransientError(f"timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            self._responded(started, None)
            raise TransientError(f"connection error ({type(exc).__name__}: {exc})") from None
        self._responded(started, response.status_code)
        if pacer is not None:
            if response.status_code in (429, 503):
                pacer.throttled(response.status_code)
            elif response.status_code < 500:
                pacer.succeeded()
        if response.status_code in RETRY_STATUSES:
            raise TransientError(
                f"{response.status_code} {error_message(response)}",
                status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        return response

    def _responded(self, started: float, status: int | None) -> None:
        if self._on_response is not None:
            self._on_response(time.perf_counter() - started, status)


def _quote(customer_id: str) -> str:
    from urllib.parse import quote

    return quote(customer_id, safe="")
