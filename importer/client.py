"""The kelviq customers API as the importer uses it: httpx requests over one transport, retries, a rate limit.

Which failures are retried is explicit: 429, 500, 502, 503, 504, timeouts and connection
errors. ``Retry-After`` (seconds or an HTTP date) is honoured; otherwise the wait is
exponential with full jitter. Every attempt, retries included, passes the shared pacer,
which also slows down when the API answers 429 or 503 and speeds up again (ratelimit.py).
401 and 403 raise ``AuthenticationError``: one bad key must not turn into a million error rows.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal
from urllib.parse import quote

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_random_exponential,
)

from .config import Rate, RetryPolicy
from .contract import (
    AUTH_STATUSES,
    RETRY_STATUSES,
    Answer,
    api_words,
    check_customer,
    error_text,
    read_answer,
    record_time,
)
from .errors import AuthenticationError, NotSent, RunAborted, TransientError, Unreachable
from .neighbours import neighbours_for
from .ratelimit import AUTO_CEILING, AUTO_START, Pacer
from .serverclock import ServerClock
from .transport import PhasedTransport

__all__ = ["KelviqClient", "Lookup", "NotSent", "Outcome", "TransientError", "Unreachable"]

MAX_RETRY_AFTER = 300.0
SEARCH_PAGES = 20  # pages of a search for one customerId before "cannot tell"
THROTTLED_ATTEMPTS = 20  # tries of one request answered 429, apart from RetryPolicy.attempts
THROTTLED_GROWTH = 1.25  # a 429 with no Retry-After: its wait grows this much a try (_wait)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the API finally said about one request: ``ok`` is a 2xx that passed the checks
    of contract.check_customer; otherwise ``error`` says why, in the API's own words."""

    ok: bool
    http_status: int | None
    kelviq_id: str | None
    attempts: int
    error: str | None
    body: dict[str, Any] | None = None
    answer: Answer | None = None
    # An earlier attempt may have reached the API and been applied before its answer was
    # lost (a timeout, a dropped connection, a 5xx): "already exists" may be our own doing.
    uncertain: bool = False
    sent_at: float | None = None  # our wall clock when the first attempt was sent


LookupState = Literal["found", "absent", "unknown"]


@dataclass(frozen=True, slots=True)
class Lookup:
    """What kelviq holds for one customerId, as far as its answers show: ``found`` (with the
    record), ``absent``, or ``unknown`` (``why`` says what stood in the way)."""

    state: LookupState
    record: dict[str, Any] | None = None
    why: str | None = None


class _GaveUp(Exception):
    def __init__(self, error: TransientError, attempts: int, uncertain: bool) -> None:
        self.error = error
        self.attempts = attempts
        self.uncertain = uncertain


@dataclass
class _Allowances:
    """The two allowances one request has before its row fails, counted apart: faults (a 5xx,
    a timeout, a dropped connection: RetryPolicy.attempts) and throttling (429: at least
    THROTTLED_ATTEMPTS, since a busy API pacing us is no failure of the row, while one that only
    ever says 429 still ends); and a bound on the time, RetryPolicy.max_elapsed. ``uncertain``:
    an attempt may have reached the API and been applied (anything but a refused connection)."""

    policy: RetryPolicy
    faults: int = 0
    throttled: int = 0
    uncertain: bool = False

    def spent(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, TransientError) and error.status == 429:
            self.throttled += 1
        else:
            self.faults += 1
            self.uncertain = self.uncertain or not (isinstance(error, TransientError) and error.connect)
        policy = self.policy
        return (
            self.faults >= policy.attempts
            or self.throttled >= max(policy.attempts, THROTTLED_ATTEMPTS)
            or (state.seconds_since_start or 0.0) >= policy.max_elapsed
        )

    @property
    def backoff(self) -> wait_random_exponential:
        return wait_random_exponential(multiplier=self.policy.backoff_initial, max=self.policy.backoff_max)


def _wait(state: RetryCallState, *, allowances: _Allowances, jitter: random.Random) -> float:
    """What the API asked (Retry-After) plus a little jitter, else exponential backoff. Every
    request throttled in one burst is told the same Retry-After: retried all at one instant they
    would walk straight into the next burst.

    A 429 that says nothing waits a second or so, a quarter longer each try (still minutes over
    THROTTLED_ATTEMPTS, at least 114 s, so a silent window of a minute fails no row): the pacer
    already slows the whole run for it. Full jitter from zero spent a row's tries inside one
    quota window, and the rows refused in the last windows then waited up to 30 s: 13 s of
    single rows ended a run against windows of 2 s that said nothing, 79% of what they left
    (bench/RESULTS.md)."""
    error = state.outcome.exception() if state.outcome is not None else None
    if isinstance(error, TransientError) and error.retry_after is not None:
        return error.retry_after + jitter.uniform(0, min(max(error.retry_after, 0.2), 2.0))
    policy = allowances.policy
    if isinstance(error, TransientError) and error.status == 429:
        grown = 2 * policy.backoff_initial * THROTTLED_GROWTH**allowances.throttled  # 429s before this one
        return min(policy.backoff_max, grown * jitter.uniform(0.5, 1.5))
    return float(allowances.backoff(state))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds to wait, as RFC 9110 writes it: delay-seconds (ASCII digits
    only: not ``inf``, ``nan``, ``1_000`` or ``-5``, which float() would take) or an HTTP
    date; None (absent: the usual backoff) for anything else."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(int(value[:12]))  # 12 digits: far past MAX_RETRY_AFTER already
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class KelviqClient:
    """Async client for /customers/. Use as ``async with KelviqClient(...) as api:``."""

    def __init__(  # noqa: PLR0913 - the client's settings, each by name
        self,
        base_url: str,
        api_key: str,
        *,
        concurrency: int = 8,
        rate: Rate = 10.0,
        auto_concurrency: bool = False,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        on_retry: Callable[[str, float], None] | None = None,
        on_response: Callable[[float, int | None], None] | None = None,
        share_pace: bool = False,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._host = httpx.URL(self._base_url).host
        self._api_key = api_key
        # How the key starts, raw and percent-encoded: what an answer is searched for (once per
        # answer, so computed once here); none for a key too short to be told from text.
        self._key_heads = (
            {api_key[:SECRET_PREFIX].encode(), quote(api_key, safe="")[:SECRET_PREFIX].encode()}
            if len(api_key) >= SECRET_PREFIX
            else set()
        )
        self._retry_policy = retry or RetryPolicy()
        self._sleep = sleep or asyncio.sleep
        self._timeout = timeout
        self._random = random.Random()
        self._on_retry = on_retry
        self._on_response = on_response  # (seconds, HTTP status or None), after every attempt
        self._stop = asyncio.Event()
        self._last_answer = time.monotonic()  # any HTTP answer at all, for Unreachable
        # The last sign of progress: a write accepted (or, before any write was tried, any 2xx:
        # a long listing is progress too). The run's watchdog reads it (RetryPolicy.stall_after).
        self.last_progress = time.monotonic()
        self._wrote = False
        # GET /customers/{id}/ is not in the spec: None until it has answered, then whether it
        # works. Learnt once per run, so an API without it costs no extra request per lookup.
        self._retrieve_works: bool | None = None
        self._probing = asyncio.Lock()
        self._probes = 0
        self.clock = ServerClock()
        self.pacer = _pacer(rate, auto_concurrency)
        if self.pacer is not None and share_pace:
            self.pacer.neighbours = neighbours_for(self._base_url, api_key)
        self._headers = httpx.Headers(
            {
                "Authorization": f"Bearer {api_key}",
                "User-Agent": f"kelviq-import/{_version()}",
                "Accept": "application/json",
                "Accept-Encoding": "gzip, deflate",
            }
        )
        self._extensions = {
            "timeout": httpx.Timeout(timeout, connect=min(timeout, 10.0)).as_dict(),
        }
        # The transport is called directly, without an httpx.AsyncClient: the client's cookie
        # jar, redirect and auth layers cost a quarter of the CPU of a request and do nothing
        # here (no cookies, no redirects followed, the key in a header). aiohttp's connection
        # pool under it (transport.py): httpx's own costs more per request the larger it is.
        self._transport = transport or PhasedTransport(connections=concurrency)
        # Absolute URLs, parsed once where constant: httpx otherwise parses the path and
        # re-parses base_url + path on every request (measured: ~15% of the client's CPU).
        self._create_url = httpx.URL(self._base_url + "/customers/")

    def stop(self) -> None:
        """No request starts from now on, first try or retry; waits for a retry end at once."""
        self._stop.set()

    async def __aenter__(self) -> KelviqClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.pacer is not None:
            self.pacer.leave()  # runners on this host sharing the account take up its share
        await self._transport.aclose()

    async def create(self, payload: Mapping[str, Any]) -> Outcome:
        return await self._send("POST", "/customers/", dict(payload), expect=payload["customerId"])

    async def update(self, customer_id: str, payload: Mapping[str, Any]) -> Outcome:
        body = {k: v for k, v in payload.items() if k != "customerId"}
        return await self._send("PATCH", customer_path(customer_id), body, expect=customer_id)

    async def retrieve(self, customer_id: str) -> Outcome:
        """``GET /customers/{customerId}/``: not in the spec, used by the vendor's SDK."""
        outcome = await self._send("GET", customer_path(customer_id), None, expect=customer_id)
        if outcome.ok:
            self._retrieve_works = True
        return outcome

    async def list_page(self, *, page: int = 1, page_size: int = 100, search: str | None = None) -> Outcome:
        params: dict[str, str | int] = {"page": page, "page_size": page_size}
        if search:
            params["search"] = search
        outcome = await self._send("GET", "/customers/", None, params=params)
        if outcome.ok and not isinstance((outcome.body or {}).get("results"), list):
            return Outcome(
                False,
                outcome.http_status,
                None,
                outcome.attempts,
                f"the API answered {outcome.http_status} to a customer listing without a results list",
                outcome.body,
                outcome.answer,
            )
        return outcome

    async def lookup(self, customer_id: str) -> Lookup:
        """What kelviq holds for this customerId, using only what the API shows.

        ``GET /customers/{customerId}/`` where that route works (it is not in the spec): a 200
        is the record, and a JSON 404 means absent once the route has answered 200. A 405, a
        404 that is not JSON or a page that is not JSON says the route is not there: it is not
        asked again in this run. Otherwise, and whenever the route cannot decide, the spec's
        own listing: ``search`` with an exact match on customerId, up to SEARCH_PAGES pages.
        """
        if self._retrieve_works is None and self._probes < 3:
            # One lookup at a time finds out whether the route is there, so that concurrent
            # workers do not all ask it first; a route that keeps not deciding (JSON 404s for
            # absent customers only) is then left to each lookup.
            async with self._probing:
                if self._retrieve_works is None:
                    self._probes += 1
                    return await self._lookup(customer_id)
        return await self._lookup(customer_id)

    async def _lookup(self, customer_id: str) -> Lookup:
        if self._retrieve_works is not False:
            found = await self.retrieve(customer_id)
            if found.ok and found.body is not None:
                return Lookup("found", found.body)
            answer = found.answer
            if answer is not None and _route_missing(answer):
                self._retrieve_works = False
            elif answer is not None and answer.status == 404 and self._retrieve_works:
                return Lookup("absent")
        looked = await self._search(customer_id)
        if looked.state == "found" and self._retrieve_works is None:
            # The route answered 404 for a customer the listing holds: it is not a retrieve.
            self._retrieve_works = False
        return looked

    async def _search(self, customer_id: str) -> Lookup:
        for page in range(1, SEARCH_PAGES + 1):
            listing = await self.list_page(page=page, page_size=100, search=customer_id)
            if not listing.ok or listing.body is None:
                return Lookup("unknown", why=f"the search for it failed: {listing.error}")
            results = listing.body.get("results") or []
            for record in results:
                if isinstance(record, dict) and record.get("customerId") == customer_id:
                    return Lookup("found", record)
            if not listing.body.get("next") or not results:
                return Lookup("absent")
        return Lookup("unknown", why=f"its search matches more than {SEARCH_PAGES * 100} customers")

    def created_during(self, record: Mapping[str, Any], outcome: Outcome) -> bool | None:
        """Was this record created after ``outcome``'s first attempt was sent (so by it)?
        None when neither the record nor the clocks say (see serverclock.py)."""
        made = record_time(record, "createdOn")
        if made is None or outcome.sent_at is None:
            return None
        return self.clock.made_after(made, outcome.sent_at)

    async def preflight(self) -> int | None:
        """One cheap request before the first row: a refused key (AuthenticationError) or an
        API that cannot be reached (Unreachable) stops the run before any row is sent. Returns
        the number of customers the account holds, when the listing says (DRF's ``count``).

        Only one try when the connection fails or times out: nothing is worth retrying for
        minutes when the host does not answer at all. An API that answers (even 5xx or 429)
        is reachable, and is then retried as usual.
        """
        params: dict[str, str | int] = {"page": 1, "page_size": 1}
        try:
            answer = await self._attempt("GET", "/customers/", None, params)
        except TransientError as exc:
            if exc.status is None:
                raise Unreachable(f"cannot reach the API at {self._host}: {exc}") from None
            try:
                answer, _, _ = await self._retry(exc, "GET", "/customers/", None, params)
            except _GaveUp as gave_up:
                raise Unreachable(
                    f"the API at {self._host} does not answer: gave up after {gave_up.attempts} "
                    f"attempts: {gave_up.error}"
                ) from None
        if answer.status in AUTH_STATUSES:
            raise AuthenticationError(answer.status, self._redact(api_words(answer)))
        if not (200 <= answer.status < 300 and isinstance(answer.body, dict) and "results" in answer.body):
            # A wrong base path, a proxy or a maintenance page: no row could succeed.
            raise RunAborted(
                f"{self._base_url}/customers/ does not answer as the kelviq API does "
                f"({self._redact(error_text(answer, limit=160))}); check --base-url"
            )
        count = answer.body.get("count")
        return count if isinstance(count, int) and not isinstance(count, bool) else None

    async def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: dict[str, str | int] | None = None,
        *,
        expect: str | None = None,
    ) -> Outcome:
        # Most requests succeed at once: the retry machinery is only built for those that
        # do not (it cost ~15% of the client's CPU time per request when always set up).
        uncertain = False
        sent_at = time.time()
        try:
            answer = await self._attempt(method, path, body, params)
            attempts = 1
        except TransientError as first:
            try:
                answer, attempts, uncertain = await self._retry(first, method, path, body, params)
            except _GaveUp as exc:
                error = exc.error
                return Outcome(
                    False,
                    error.status,
                    None,
                    exc.attempts,
                    f"gave up after {exc.attempts} attempts: {error}",
                    uncertain=exc.uncertain,
                    sent_at=sent_at,
                )
        status = answer.status
        if status in AUTH_STATUSES:
            raise AuthenticationError(status, self._redact(api_words(answer)))
        data = answer.body if isinstance(answer.body, dict) else None
        if 200 <= status < 300:
            wrong = check_customer(answer, expect) if method != "GET" or expect else None
            if wrong is None and method == "GET" and expect is None and data is None:
                wrong = check_customer(answer, None)
            if wrong is not None:
                return Outcome(False, status, None, attempts, wrong, data, answer, uncertain, sent_at)
            kelviq_id = data.get("id") if data is not None else None
            return Outcome(
                True,
                status,
                str(kelviq_id) if kelviq_id else None,
                attempts,
                None,
                data,
                answer,
                uncertain,
                sent_at,
            )
        return Outcome(
            False, status, None, attempts, self._redact(error_text(answer)), data, answer, uncertain, sent_at
        )

    async def _retry(
        self,
        first: TransientError,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: dict[str, str | int] | None,
    ) -> tuple[Answer, int, bool]:
        """Retry a request whose first attempt (made by ``_send``: most succeed, and building
        the retry machinery for every request cost ~15% of the client's CPU) failed with
        ``first``. tenacity runs the loop: when to stop (_Allowances), how long to wait
        (Retry-After, else exponential backoff with full jitter), the interruptible sleep."""
        allowances = _Allowances(self._retry_policy)
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientError),
            stop=allowances.spent,
            wait=partial(_wait, allowances=allowances, jitter=self._random),
            sleep=self._pause,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if attempts == 1:
                        raise first  # tenacity's first round reads the failure already had
                    answer = await self._attempt(method, path, body, params)
        except TransientError as exc:
            raise _GaveUp(exc, attempts, allowances.uncertain) from None
        except NotSent:
            raise NotSent(attempts - 1) from None
        return answer, attempts, allowances.uncertain

    def _before_sleep(self, state: RetryCallState) -> None:
        if self._on_retry and state.outcome is not None and state.next_action is not None:
            self._on_retry(str(state.outcome.exception()), state.next_action.sleep)

    async def _pause(self, seconds: float) -> None:
        """A retry's wait, cut short when the run is stopping (the retry then is not sent)."""
        if self._stop.is_set():
            return
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()

    async def _attempt(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: dict[str, str | int] | None,
    ) -> Answer:
        pacer = self.pacer
        if pacer is not None:
            await pacer.acquire()
        started = time.perf_counter()
        sent = time.time()
        try:
            if self._stop.is_set():
                raise NotSent()
            url = self._create_url if path == "/customers/" else self._base_url + path
            # httpx's timeouts are per read: a server trickling one byte a second would hold
            # a request forever. The whole request, body included, gets --timeout.
            request = httpx.Request(
                method, url, params=params, headers=self._headers, json=body, extensions=self._extensions
            )
            async with asyncio.timeout(self._timeout):
                response = await self._transport.handle_async_request(request)
                await response.aread()
        except (TimeoutError, httpx.TimeoutException) as exc:
            self._responded(started, None)
            connect = isinstance(exc, httpx.ConnectTimeout)
            self._check_reachable(connect, "connection timed out")
            raise TransientError(
                f"timeout after {self._timeout:g} s ({type(exc).__name__})", connect=connect
            ) from None
        except httpx.RequestError as exc:  # a transport error, or a body that cannot be decoded
            self._responded(started, None)
            connect = isinstance(exc, httpx.ConnectError)
            cause = self._redact(str(exc) or type(exc).__name__)
            self._check_reachable(connect, cause)
            what = "connection error" if isinstance(exc, httpx.TransportError) else "unreadable answer"
            raise TransientError(f"{what} ({type(exc).__name__}: {cause})", connect=connect) from None
        finally:
            if pacer is not None:
                pacer.release()  # the place in flight (auto concurrency) is free again
        self._last_answer = time.monotonic()
        status = response.status_code
        if method != "GET":
            self._wrote = True
        if 200 <= status < 300 and (method != "GET" or not self._wrote):
            self.last_progress = self._last_answer
        self._responded(started, status)
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if status >= 400 else None
        if pacer is not None:
            if status in (429, 503):
                pacer.throttled(status, retry_after=retry_after, latency=time.perf_counter() - started)
            elif status >= 500:
                pacer.fault()
            else:
                pacer.succeeded(time.perf_counter() - started)
        clock = self.clock
        answer = read_answer(
            status,
            response.headers.get("content-type", ""),
            response.content,
            response.headers.get("date") if clock.wants_dates else None,
        )
        answer = self._redacted(answer)
        if answer.date is not None:
            clock.date_seen(answer.date, sent=sent, received=time.time())
        if method != "GET" and 200 <= status < 300 and isinstance(answer.body, dict):
            made = record_time(answer.body, "createdOn" if method == "POST" else "modifiedOn")
            if made is not None:
                clock.record_made(made, sent=sent, received=time.time())
        if status in RETRY_STATUSES:
            raise TransientError(
                self._redact(error_text(answer, limit=200)),
                status=status,
                retry_after=retry_after,
            )
        return answer

    def _check_reachable(self, connect: bool, cause: str) -> None:
        """Connections failing and no answer of any kind for ``unreachable_after`` seconds:
        the API is gone (a network outage, a DNS or TLS change), and every row would only
        be retried into a failure. Stop the run instead."""
        if not connect:
            return
        silent = time.monotonic() - self._last_answer
        if silent >= self._retry_policy.unreachable_after:
            raise Unreachable(
                f"the API at {self._host} has been unreachable for {silent:.0f} s ({cause}); "
                "rows not sent are reported not_sent: run the same command again once it is back"
            )

    def _redact(self, text: str) -> str:
        """No text that may carry a header value reaches a report or a log with the key in it."""
        return scrub(text, self._api_key)

    def _redacted(self, answer: Answer) -> Answer:
        """The answer with the key scrubbed from its body *before* any text is cut from it: a
        key straddling a 200-character cut would otherwise survive in part."""
        raw = answer.raw
        if not raw or not any(head in raw for head in self._key_heads):
            return answer
        text = scrub(raw.decode("utf-8", errors="replace"), self._api_key)
        return replace(read_answer(answer.status, answer.content_type, text.encode()), date=answer.date)

    def _responded(self, started: float, status: int | None) -> None:
        if self._on_response is not None:
            self._on_response(time.perf_counter() - started, status)


SECRET_PREFIX = 6  # no run of the key this long, from its start, is left in any text


def scrub(text: str, key: str) -> str:
    """``text`` with the key, and any start of it of SECRET_PREFIX characters or more (a key
    cut short by the server or by a message's length limit), as ``[API key]``; its
    percent-encoded form too (a server echoing a URL)."""
    if not key:
        return text
    if len(key) < SECRET_PREFIX:
        return text.replace(key, "[API key]") if len(key) >= 4 else text
    for secret in dict.fromkeys((key, quote(key, safe=""))):
        head = secret[:SECRET_PREFIX]
        if head not in text:
            continue
        out, at = [], 0
        while (found := text.find(head, at)) != -1:
            end = found + SECRET_PREFIX
            while end < len(text) and end - found < len(secret) and text[end] == secret[end - found]:
                end += 1
            out += [text[at:found], "[API key]"]
            at = end
        text = "".join(out) + text[at:]
    return text


def _route_missing(answer: Answer) -> bool:
    """An answer to ``GET /customers/{id}/`` that says the route is not there (not that the
    customer is not): 405 (DRF, a route with PATCH only), 501, or a 404/2xx that is not JSON
    (a framework's or a proxy's page)."""
    if answer.status in (405, 501):
        return True
    return answer.status in (200, 404) and answer.body is None


def _pacer(rate: Rate, auto_concurrency: bool) -> Pacer | None:
    """``auto``: slow start from AUTO_START up to AUTO_CEILING; a number: that rate, lower when
    the API pushes back; None: no pacing (and no auto concurrency, which sizes from a rate)."""
    if rate == "auto":
        return Pacer(AUTO_CEILING, start=AUTO_START, auto_concurrency=auto_concurrency)
    if rate:
        return Pacer(float(rate), auto_concurrency=auto_concurrency)
    return None


def customer_path(customer_id: str) -> str:
    """``/customers/{customerId}/`` with the id percent-encoded whole: ``/``, ``%``, ``#``,
    ``?`` and spaces stay inside the one path segment."""
    return f"/customers/{quote(customer_id, safe='')}/"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kelviq-import")
    except PackageNotFoundError:
        return "0"
