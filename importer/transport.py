"""HTTP under the client: httpx's request and response types over aiohttp's connections, each
failure named by the phase it happened in.

Why aiohttp's connections: when the API allows a lot, the importer is CPU-bound, and httpcore's
connection pool (httpx's own transport) costs more per request the larger it is; aiohttp's does
not (bench/RESULTS.md, target 8). The client (client.py) builds ``httpx.Request`` values and
reads ``httpx.Response`` values, so tests still plug in ``httpx.MockTransport`` or respx.

Why not the ``httpx-aiohttp`` library, which does the same: it was measured (0.68–0.82× a bare
aiohttp loop against 0.9× here: it streams each body through two iterator layers), and it maps
every aiohttp connection error, a connection dropped after the request was written included, to
``httpx.ConnectTimeout``. Whether a failed write may have reached the API decides whether it
can be retried as if never sent, so here aiohttp's error decides (``by_phase``):

- ``aiohttp.ClientConnectorError`` (refused, DNS, TLS handshake): ``httpx.ConnectError``;
- ``aiohttp.ConnectionTimeoutError`` (no connection in time): ``httpx.ConnectTimeout``;
- any other timeout: ``httpx.ReadTimeout``, and any other error: ``httpx.ReadError``. The
  request may have been written: the client treats the write as uncertain.
"""

from __future__ import annotations

import ssl

import aiohttp
import httpx
import yarl

__all__ = ["PhasedTransport", "by_phase"]


class PhasedTransport(httpx.AsyncBaseTransport):
    """One aiohttp session of at most ``connections`` connections. Each answer is read whole
    before it is returned. No cookies and no proxies from the environment (httpx's client had
    ``trust_env=False``); certificates are checked as httpx checks them (certifi's roots, or
    those named by ``SSL_CERT_FILE`` or ``SSL_CERT_DIR``)."""

    def __init__(self, *, connections: int, keepalive_expiry: float = 5.0) -> None:
        self._connections = connections
        self._keepalive = keepalive_expiry
        self._ssl: ssl.SSLContext | None = None
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Built on the first request: an aiohttp session belongs to the running event loop.
        connector = aiohttp.TCPConnector(
            limit=self._connections,
            limit_per_host=0,
            keepalive_timeout=self._keepalive,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # a server's cookies are not sent back
            trust_env=False,
            auto_decompress=False,  # httpx.Response decodes, as it would over its own transport
            skip_auto_headers=("User-Agent", "Accept-Encoding"),  # the request's own, or none
        )
        return self._session

    def _tls(self) -> ssl.SSLContext:
        # Built for the first https request: loading certifi's roots costs 45 ms of CPU, a tenth
        # of a runner's start-up, which eight runners starting on two cores pay eight times over
        # before the first request; an http API (the sandbox, a local mock) never needs it.
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        limits = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            connect=limits.get("pool"), sock_connect=limits.get("connect"), sock_read=limits.get("read")
        )
        try:
            async with session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),  # as httpx encoded it: not requoted
                headers=request.headers,
                data=request.content or None,
                allow_redirects=False,
                timeout=timeout,
                ssl=self._tls() if request.url.scheme == "https" else True,
            ) as answer:
                body = await answer.read()
                status, headers, reason = answer.status, answer.raw_headers, answer.reason
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise by_phase(exc) from None
        phrase = (reason or "").encode("latin-1", "replace")
        extensions = {"http_version": b"HTTP/1.1", "reason_phrase": phrase}
        return httpx.Response(status, headers=headers, content=body, request=request, extensions=extensions)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def by_phase(error: BaseException) -> httpx.TransportError:
    """The httpx error that says whether the request may have been sent, from aiohttp's."""
    text = str(error) or type(error).__name__
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(text)
    if isinstance(error, aiohttp.ClientConnectorError):
        return httpx.ConnectError(text)
    if isinstance(error, TimeoutError):
        return httpx.ReadTimeout(text)
    return httpx.ReadError(f"{type(error).__name__}: {text}")
