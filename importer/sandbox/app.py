"""The sandbox's ASGI application: a kelviq-compatible customers API kept in memory.

It serves the customer endpoints of the vendor's spec (and retrieve/delete, as the SDK uses
them) under ``/api/v1``, in either dialect for duplicates and unknown ids, and can be made
difficult on purpose: latency, a rate limit answering 429 with Retry-After (or 503 with none),
bursts of 429, a share of 500/503, writes that hang past the client's timeout, connections
dropped before or after the write is applied. ``/_sandbox/stats`` (no auth) shows what it received.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import random
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import parse_qs, quote, unquote

__all__ = [
    "DEFAULT_KEY",
    "DUPLICATE_STYLES",
    "PREFIX",
    "ROUTES",
    "THROTTLE_STATUSES",
    "THROTTLE_STYLES",
    "UNKNOWN_STYLES",
    "SandboxApp",
    "SandboxOptions",
]

DEFAULT_KEY = "sandbox-demo-key"
PREFIX = "/api/v1"
# The spec says ``format: email``; this is the check a validator built from it makes (ajv-formats'
# "email", full mode, as in Stoplight Prism), written apart from the importer's own rule
# (email-validator, contract.py) so that the sandbox can catch it out.
_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
    re.IGNORECASE,
)
# How the API says "already exists" and "no such customer": kelviq's SDK points at Django REST
# framework (400 with a field error; 404), other services answer 409 or a 400 with a message.
DUPLICATE_STYLES = ("drf400", "409")
UNKNOWN_STYLES = ("404", "400")
# "all": the spec's routes plus retrieve and delete (the SDK uses them), unknown fields refused;
# "spec": the spec's routes and nothing more, with Django REST framework's defaults (a method
# the route lacks is 405, unknown fields are ignored), as the published contract allows.
ROUTES = ("all", "spec")
# How --rate-limit is kept: "bucket", a token bucket holding one second (what goes unused is
# banked, up to a second's worth); "drf", Django REST framework's SimpleRateThrottle: a log of
# the requests it let through, at most the limit in any second, nothing banked; "gcra", a GCRA
# that lets GCRA_BURST requests through back to back and no more (nginx's limit_req with a
# small burst, redis-cell's), nothing banked either.
THROTTLE_STYLES = ("bucket", "drf", "gcra")
GCRA_BURST = 3
# How the limit is answered: 429 with Retry-After (DRF's), or 503 with none, as nginx's
# limit_req answers by default and some gateways do.
THROTTLE_STATUSES = (429, 503)
_ADDRESS_FIELDS = {"country", "line1", "line2", "postalCode", "city", "state"}
_NULLABLE_ADDRESS = {"line2"}
_CREATE_FIELDS = {"customerId", "email", "name", "metadata", "billingAddress"}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class SandboxOptions:
    api_key: str = DEFAULT_KEY
    latency_ms: float = 0.0
    rate_limit: float | None = None  # requests per second before answering 429
    throttle_style: str = "bucket"  # how the limit is kept: THROTTLE_STYLES
    # "drf": the seconds its log spans, letting through rate_limit * throttle_period in them, as
    # DRF's rates per minute do ("120/min": rate_limit 2, throttle_period 60).
    throttle_period: float = 1.0
    throttle_status: int = 429  # how the limit is answered: THROTTLE_STATUSES
    fault_rate: float = 0.0  # share of write requests answered 500 or 503
    lose_response_rate: float = 0.0  # share of successful writes whose answer is never sent
    hang_rate: float = 0.0  # share of writes that are applied, then answered only after hang_s
    hang_s: float = 30.0
    drop_rate: float = 0.0  # share of requests whose connection is dropped before anything happens
    burst_every: float = 0.0  # every burst_every seconds, burst_len seconds of nothing but 429
    burst_len: float = 0.0
    # (second, limit): from that second of the run (counted from the first API request) the
    # rate limit is this; a limit that drops mid-run, as a shared quota does.
    rate_changes: tuple[tuple[float, float], ...] = ()
    seed: int | None = None
    duplicate_style: str = "drf400"
    unknown_style: str = "404"
    routes: str = "all"
    throttle_writes: bool = False  # every POST/PATCH answered 429 with Retry-After: 1, forever


class _Invalid(Exception):
    """A 400 with DRF's field-error body: ``{"email": ["Enter a valid email address."]}``."""

    def __init__(self, message: str, field: str = "non_field_errors") -> None:
        super().__init__(message)
        self.body = {field: [message]}


class _LoseResponse(Exception):
    """The write is committed, then the connection is dropped before the answer."""


class _QuietLostResponses(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _LoseResponse))


@dataclass
class SandboxApp:
    """The ASGI application. Its state is plain attributes, readable by in-process tests."""

    options: SandboxOptions = field(default_factory=SandboxOptions)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    creates_by_id: Counter[str] = field(default_factory=Counter)
    # What the API did, in order: ("created" | "updated", customerId), one per applied write.
    # Tests hold the importer's statuses against it.
    log: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.options.seed)
        self._tokens = self.options.rate_limit or 0.0
        self._history: deque[float] = deque()  # "drf": times of the requests let through, last period
        self._theoretical = 0.0  # "gcra": when the next request is due at the limit
        self._last = time.monotonic()
        self._t0: float | None = None  # the first API request: second 0 of the windows and changes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if (
            self.options.drop_rate
            and not scope["path"].startswith("/_sandbox/")
            and self._random.random() < self.options.drop_rate
        ):
            self.requests["dropped"] += 1
            await _drop_connection(send)
        status, payload, headers = await self._handle(scope, body)
        if (
            self.options.hang_rate
            and scope["method"] in ("POST", "PATCH")
            and self._random.random() < self.options.hang_rate
        ):
            self.requests["hung"] += 1
            await asyncio.sleep(self.options.hang_s)
        lose = (
            status in (200, 201)
            and scope["method"] in ("POST", "PATCH")
            and self.options.lose_response_rate
            and self._random.random() < self.options.lose_response_rate
        )
        if lose:
            self.requests["lost"] += 1
            await _drop_connection(send)
        raw = b"" if payload is None else json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})

    async def _handle(  # noqa: PLR0911 - a router: one return per route and refusal
        self, scope: Scope, body: bytes
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        method: str = scope["method"]
        path: str = scope["path"]
        if path.startswith("/_sandbox/"):
            return self._control(method, path)
        self.requests[method] += 1
        self.requests["total"] += 1
        if self.options.latency_ms:
            await asyncio.sleep(self.options.latency_ms / 1000)
        if not self._authorised(scope):
            self.requests["401"] += 1
            return 401, {"detail": "Invalid or missing API key."}, []
        burst = self.options.burst_every
        if burst and self.options.burst_len:
            # Time windows, as an API's quota windows are: a window counted in requests would
            # hold a lone retrying client in it until it had made all those requests itself.
            into = (time.monotonic() - self._started()) % burst
            if into < self.options.burst_len:
                self.requests["429"] += 1
                self.requests["429_burst"] += 1
                retry_after = str(max(1, math.ceil(self.options.burst_len - into))).encode()
                return 429, {"detail": "Request was throttled."}, [(b"retry-after", retry_after)]
        if self.options.throttle_writes and method in ("POST", "PATCH"):
            self.requests["429"] += 1
            return 429, {"detail": "Request was throttled."}, [(b"retry-after", b"1")]
        wait = self._rate_limited()
        if wait is not None:
            if self.options.throttle_status == 503:
                self.requests["503"] += 1
                self.requests["503_throttled"] += 1
                return 503, {"detail": "Service Temporarily Unavailable"}, []
            self.requests["429"] += 1
            retry_after = str(max(1, math.ceil(wait))).encode()
            return 429, {"detail": "Request was throttled."}, [(b"retry-after", retry_after)]
        if method != "GET" and self.options.fault_rate and self._random.random() < self.options.fault_rate:
            status = self._random.choice((500, 503))
            self.requests[str(status)] += 1
            # A 503 says when to come back, as a load balancer's does; a 500 says nothing.
            after = [(b"retry-after", b"1")] if status == 503 else []
            return status, {"status": "Server error", "message": "injected fault"}, after
        # Route on the raw path and decode the id once: an id holding "/" or "%" arrives as
        # %2F or %25 and must stay one path segment.
        raw = scope.get("raw_path") or path.encode()
        raw_path = raw.decode("latin-1").split("?", 1)[0]
        base = PREFIX + "/customers/"
        if not raw_path.startswith(base):
            return 404, {"detail": "Not found."}, []
        rest = raw_path[len(base) :]
        try:
            if rest == "":
                if method == "GET":
                    return self._list(scope)
                if method == "POST":
                    return self._create(body)
                return 405, {"detail": f'Method "{method}" not allowed.'}, []
            if rest.endswith("/") and "/" not in rest[:-1]:
                cid = unquote(rest[:-1], errors="strict")
                if method == "PATCH":
                    return self._update(cid, body)
                if method == "GET" and self.options.routes != "spec":
                    return self._retrieve(cid)
                if method == "DELETE" and self.options.routes != "spec":
                    return self._delete(cid)
                self.requests["405"] += 1
                return 405, {"detail": f'Method "{method}" not allowed.'}, []
        except _Invalid as exc:
            self.requests["400"] += 1
            return 400, exc.body, []
        return 404, {"detail": "Not found."}, []

    def _control(self, method: str, path: str) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if path == "/_sandbox/stats":
            return 200, self.stats(), []
        if path == "/_sandbox/customers":
            return 200, self.customers, []
        if path == "/_sandbox/log":
            return 200, [list(entry) for entry in self.log], []
        if path == "/_sandbox/reset" and method == "POST":
            self.customers.clear()
            self.requests.clear()
            self.creates_by_id.clear()
            self.log.clear()
            return 200, {"ok": True}, []
        return 404, {"detail": "Not found."}, []

    def stats(self) -> dict[str, Any]:
        return {
            "customers": len(self.customers),
            "requests": dict(self.requests),
            "most_creates_of_one_customer": max(self.creates_by_id.values(), default=0),
        }

    def _authorised(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                return bool(value == b"Bearer " + self.options.api_key.encode())
        return False

    def _started(self) -> float:
        if self._t0 is None:
            self._t0 = time.monotonic()
        return self._t0

    def _rate_limited(self) -> float | None:
        """Token bucket holding one second of requests, or DRF's log; returns seconds to wait,
        or None."""
        now = time.monotonic()
        rate = self.options.rate_limit
        for at, limit in self.options.rate_changes:
            if now - self._started() >= at:
                rate = limit
        if not rate:
            return None
        if self.options.throttle_style == "drf":
            return self._drf_throttled(now, rate)
        if self.options.throttle_style == "gcra":
            return self._gcra_throttled(now, rate)
        self._tokens = min(rate, self._tokens + (now - self._last) * rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return (1 - self._tokens) / rate

    def _gcra_throttled(self, now: float, rate: float) -> float | None:
        """The theoretical arrival time of the next request at ``rate``: one that comes more than
        ``GCRA_BURST - 1`` intervals ahead of it is refused, and told how far ahead it was."""
        interval = 1.0 / rate
        arrival = max(self._theoretical, now)
        ahead = arrival - now - (GCRA_BURST - 1) * interval
        if ahead > 1e-9:
            return ahead
        self._theoretical = arrival + interval
        return None

    def _drf_throttled(self, now: float, rate: float) -> float | None:
        """SimpleRateThrottle with a duration of ``throttle_period``: ``allow_request`` and
        ``wait``, as rest_framework/throttling.py has them (a refused request is not logged)."""
        history, period = self._history, self.options.throttle_period
        allowed = rate * period
        while history and history[0] <= now - period:
            history.popleft()
        if len(history) < allowed:
            history.append(now)
            return None
        remaining = period - (now - history[0]) if history else period
        return remaining / max(1.0, allowed - len(history) + 1)

    # --- the three endpoints ---------------------------------------------------------------

    def _list(self, scope: Scope) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        query = parse_qs(scope.get("query_string", b"").decode())
        try:
            page = int(query.get("page", ["1"])[0])
            page_size = int(query.get("page_size", ["10"])[0])
        except ValueError:
            raise _Invalid("page and page_size must be integers") from None
        if not 1 <= page_size <= 100:
            raise _Invalid("page_size must be between 1 and 100")
        search = query.get("search", [""])[0]
        items = list(reversed(self.customers.values()))
        if search:
            items = [
                c
                for c in items
                if any(search.lower() in (c.get(k) or "").lower() for k in ("name", "email", "customerId"))
            ]
        start = (page - 1) * page_size
        if page < 1 or (start >= len(items) and page != 1):
            return 404, {"detail": "Invalid page."}, []
        chunk = items[start : start + page_size]
        # Absolute, as the spec's format: uri and DRF's pagination have them.
        host = dict(scope["headers"]).get(b"host", b"127.0.0.1").decode("latin-1")
        base = f"{scope.get('scheme', 'http')}://{host}{PREFIX}/customers/?page_size={page_size}"
        if search:
            base += f"&search={quote(search)}"
        return (
            200,
            {
                "count": len(items),
                "next": f"{base}&page={page + 1}" if start + page_size < len(items) else None,
                "previous": f"{base}&page={page - 1}" if page > 1 else None,
                "results": chunk,
            },
            [],
        )

    def _create(self, body: bytes) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        data = _json_object(body)
        unknown = set(data) - _CREATE_FIELDS
        if unknown and self.options.routes == "spec":
            data = {k: v for k, v in data.items() if k in _CREATE_FIELDS}  # DRF ignores them
        elif unknown:
            raise _Invalid(f"unknown field(s): {', '.join(sorted(unknown))}")
        cid = data.get("customerId")
        if not isinstance(cid, str) or not cid.strip():
            raise _Invalid("This field is required and may not be blank.", "customerId")
        _validate_fields(data)
        if cid in self.customers:
            if self.options.duplicate_style == "409":
                self.requests["409"] += 1
                message = f"Customer with customerId '{cid}' already exists."
                return 409, {"status": "Conflict", "message": message}, []
            self.requests["400"] += 1
            return 400, {"customerId": ["customer with this customerId already exists."]}, []
        now = _now()
        record = {
            "id": str(uuid.uuid4()),
            "customerId": cid,
            "name": data.get("name"),
            "email": data.get("email"),
            "details": {},
            "metadata": data.get("metadata") or {},
            "billingAddress": data.get("billingAddress"),
            "createdOn": now,
            "modifiedOn": now,
        }
        self.customers[cid] = record
        self.creates_by_id[cid] += 1
        self.log.append(("created", cid))
        self.requests["201"] += 1
        return 201, record, []

    def _unknown(self) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if self.options.unknown_style == "400":
            self.requests["400"] += 1
            return 400, {"status": "Bad request", "message": "Customer does not exist."}, []
        self.requests["404"] += 1
        return 404, {"detail": "Not found."}, []

    def _retrieve(self, cid: str) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        record = self.customers.get(cid)
        if record is None:
            self.requests["404"] += 1
            return 404, {"detail": "Not found."}, []
        return 200, record, []

    def _delete(self, cid: str) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if self.customers.pop(cid, None) is None:
            self.requests["404"] += 1
            return 404, {"detail": "Not found."}, []
        return 204, None, []

    def _update(self, cid: str, body: bytes) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        record = self.customers.get(cid)
        if record is None:
            return self._unknown()
        data = _json_object(body)
        allowed = _CREATE_FIELDS - {"customerId"}
        unknown = set(data) - allowed
        if unknown and self.options.routes == "spec":
            data = {k: v for k, v in data.items() if k in allowed}  # DRF ignores them
        elif unknown:
            raise _Invalid(f"unknown field(s): {', '.join(sorted(unknown))}")
        _validate_fields(data)
        record.update(data)
        if record.get("metadata") is None:
            record["metadata"] = {}
        record["modifiedOn"] = _now()
        self.log.append(("updated", cid))
        self.requests["200"] += 1
        return 200, record, []


async def _drop_connection(send: Send) -> NoReturn:
    """Start an answer and die: the client sees a dropped connection, not a status."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
    raise _LoseResponse()


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise _Invalid("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise _Invalid("request body must be a JSON object")
    return data


def _validate_fields(data: dict[str, Any]) -> None:
    for key in ("name", "email"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise _Invalid("Not a valid string.", key)
    email = data.get("email")
    if isinstance(email, str) and not _EMAIL.match(email):
        raise _Invalid("Enter a valid email address.", "email")
    meta = data.get("metadata")
    if meta is not None:
        if not isinstance(meta, dict):
            raise _Invalid("Expected a dictionary of items.", "metadata")
        for k, v in meta.items():
            if not isinstance(v, str):
                raise _Invalid(f"{k}: Not a valid string.", "metadata")
    address = data.get("billingAddress")
    if address is not None:
        if not isinstance(address, dict):
            raise _Invalid("Expected a dictionary of items.", "billingAddress")
        for k, v in address.items():
            if k not in _ADDRESS_FIELDS:
                raise _Invalid(f"{k}: unknown field.", "billingAddress")
            if v is None and k in _NULLABLE_ADDRESS:
                continue
            if not isinstance(v, str):
                raise _Invalid(f"{k}: Not a valid string.", "billingAddress")
        country = address.get("country")
        if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
            raise _Invalid(f"country: {country!r} is not an ISO 3166-1 alpha-2 code.", "billingAddress")


# uvicorn logs a lost response (dropped on purpose) as an error: a filter for its logger.
quiet_lost_responses = _QuietLostResponses()
