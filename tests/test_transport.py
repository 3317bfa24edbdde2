"""The transport names each failure by its phase: never sent, or perhaps sent (transport.py).

Relies on nothing of kelviq's: raw loopback servers that answer with broken bytes, or not at all.
What a user would notice if this were wrong: a create that landed but lost its answer retried
as a first try (a duplicate, or a row reported ``created`` that this run did not create), or a
malformed answer ending the run with a traceback.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from importer.client import KelviqClient, RetryPolicy
from importer.transport import PhasedTransport, by_phase
from tests.helpers import Answer, RawServer


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(answer: Answer, *, tls: ssl.SSLContext | None = None) -> RawServer:
        servers.append(RawServer(answer, tls=tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


CREATED = b"HTTP/1.1 201 Created\r\n"


def says(raw: bytes) -> Answer:
    return lambda conn: conn.sendall(raw)


async def post(url: str, *, seconds: float = 5.0) -> httpx.Response:
    async with httpx.AsyncClient(transport=PhasedTransport(connections=4), timeout=seconds) as client:
        return await client.post(url + "/customers/", json={"customerId": "c-1"})


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 that no root signed, and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def tls_server(serve: Callable[..., RawServer], certificate: tuple[Path, Path]) -> RawServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return serve(says(CREATED + b"content-length: 2\r\n\r\n{}"), tls=context)


@pytest.mark.e2e  # the openssl command makes the certificate
def test_an_https_api_whose_certificate_no_root_signed_is_refused_before_anything_is_sent(
    serve: Callable[..., RawServer], certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    server = tls_server(serve, certificate)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(post(server.url))
    assert server.requests == 0


@pytest.mark.e2e  # the openssl command makes the certificate
def test_an_https_api_is_trusted_as_httpx_trusts_it_ssl_cert_file_included(
    serve: Callable[..., RawServer], certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A company's own root, named the way httpx (and requests, and curl) read it.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    server = tls_server(serve, certificate)
    assert asyncio.run(post(server.url)).status_code == 201
    assert server.requests == 1


def test_a_refused_connection_was_never_sent() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nobody listens there now
    with pytest.raises(httpx.ConnectError):
        asyncio.run(post(f"http://127.0.0.1:{port}"))


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(says(b""), id="closed-without-a-word"),
        pytest.param(says(CREATED + b"content-length: 1000\r\n\r\n{"), id="body-cut-short"),
        pytest.param(says(CREATED + b"transfer-encoding: chunked\r\n\r\nzz\r\n"), id="bad-chunk"),
        pytest.param(says(b"garbage, not HTTP\r\n\r\n"), id="not-http"),
        pytest.param(says(CREATED + b"x-long: " + b"a" * 70_000 + b"\r\n\r\n"), id="huge-header"),
    ],
)
def test_an_answer_lost_after_the_request_was_read_may_have_been_sent(
    serve: Callable[[Answer], RawServer], answer: Answer
) -> None:
    server = serve(answer)
    with pytest.raises(httpx.TransportError) as raised:
        asyncio.run(post(server.url))
    assert server.requests == 1
    assert not isinstance(raised.value, (httpx.ConnectError, httpx.ConnectTimeout)), raised.value


def test_an_answer_that_never_comes_is_a_read_timeout(serve: Callable[[Answer], RawServer]) -> None:
    gate = threading.Event()
    server = serve(lambda conn: gate.wait(10))
    try:
        with pytest.raises(httpx.ReadTimeout):
            asyncio.run(post(server.url, seconds=0.5))
    finally:
        gate.set()
    assert server.requests == 1


def test_a_gzip_answer_is_read_and_a_broken_one_is_an_error_not_a_crash(
    serve: Callable[[Answer], RawServer],
) -> None:
    body = gzip.compress(b'{"id": "u-1", "customerId": "c-1"}')
    good = serve(says(b"HTTP/1.1 201 Created\r\ncontent-encoding: gzip\r\ncontent-type: application/json\r\n"
                      b"content-length: %d\r\n\r\n" % len(body) + body))  # fmt: skip
    assert asyncio.run(post(good.url)).json() == {"id": "u-1", "customerId": "c-1"}
    bad = serve(says(b"HTTP/1.1 201 Created\r\ncontent-encoding: gzip\r\ncontent-length: 5\r\n\r\nnope!"))

    async def create() -> tuple[bool, str | None, bool]:
        async with KelviqClient(bad.url, "k-123456", rate=None, retry=RetryPolicy(attempts=1)) as api:
            outcome = await api.create({"customerId": "c-1", "name": "Ada"})
        return outcome.ok, outcome.error, outcome.uncertain

    ok, error, uncertain = asyncio.run(create())
    assert not ok and error is not None and "Decoding" in error
    assert uncertain, "the API answered: the create may have been applied"


def test_the_client_reads_a_lost_answer_as_uncertain_and_a_refusal_as_not_sent(
    serve: Callable[[Answer], RawServer],
) -> None:
    """What the phases are for: the row's outcome says whether kelviq may hold it."""
    cut = serve(says(b"HTTP/1.1 201 Created\r\ncontent-length: 1000\r\n\r\n{"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    refused_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()

    async def create(url: str) -> bool:
        async with KelviqClient(url, "k-123456", rate=None, retry=RetryPolicy(attempts=1)) as api:
            outcome = await api.create({"customerId": "c-1", "name": "Ada"})
        assert not outcome.ok
        return outcome.uncertain

    assert asyncio.run(create(cut.url)) is True
    assert asyncio.run(create(refused_url)) is False


KEY = aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None)


@pytest.mark.parametrize(
    ("error", "named"),
    [
        (aiohttp.ConnectionTimeoutError("no connection in time"), httpx.ConnectTimeout),
        (aiohttp.ClientConnectorError(KEY, OSError(111, "refused")), httpx.ConnectError),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.ReadError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (aiohttp.ClientPayloadError("cut"), httpx.ReadError),
    ],
)
def test_each_aiohttp_error_is_named_by_its_phase(error: BaseException, named: type[Exception]) -> None:
    assert type(by_phase(error)) is named
