"""What the tests share besides fixtures: paths, sample data, small file helpers, the API dialects.

Fixtures live in conftest.py; everything a test imports by name lives here.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from importer.sandbox import SandboxOptions

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
SHARED_DATA = Path(__file__).parent / "data"  # copies of ../shared/data (see SOURCES.md)
SPEC = Path(__file__).parent / "data" / "kelviq-customers-openapi.json"


# Addresses the spec's validators refuse (ajv's "email" format in Prism, Django's EmailValidator).
REFUSED_EMAILS = [
    "zoë@example.com",
    "a..b@example.com",
    ".lead@example.com",
    "user@exa_mple.com",
    "user@-example.com",
    "a,b@example.com",
    "<angle@example.com>",
]


@dataclass(frozen=True)
class Dialect:
    """How the API says "already exists" and "no such customer", and which routes it has. The
    spec declares neither answer: kelviq's SDK points at Django REST framework (400 field error;
    404), other services say 409, or 400 with a message; and the spec has no retrieve route,
    which the SDK uses. Suites that depend on any of it run against every dialect."""

    duplicate_style: str
    unknown_style: str
    routes: str = "all"

    def options(self, **kw: Any) -> SandboxOptions:
        return SandboxOptions(
            duplicate_style=self.duplicate_style, unknown_style=self.unknown_style, routes=self.routes, **kw
        )

    @property
    def args(self) -> tuple[str, ...]:
        return (
            "--duplicate-style",
            self.duplicate_style,
            "--unknown-style",
            self.unknown_style,
            "--routes",
            self.routes,
        )


DIALECTS = {
    "drf": Dialect(duplicate_style="drf400", unknown_style="404"),
    "409": Dialect(duplicate_style="409", unknown_style="400"),
    # The published contract and nothing more: no GET/DELETE of one customer (405), DRF defaults.
    "spec": Dialect(duplicate_style="drf400", unknown_style="404", routes="spec"),
}


class RecordingSleep:
    """Stands in for asyncio.sleep: records how long the client wanted to wait, waits not."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def schema(name: str) -> dict[str, Any]:
    """A component of the vendor's OpenAPI 3.0 spec as plain JSON Schema (nullable, $ref)."""
    spec = json.loads(SPEC.read_text())
    components = spec["components"]["schemas"]

    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return convert(components[node["$ref"].rsplit("/", 1)[1]])
            out = {k: convert(v) for k, v in node.items() if k not in ("nullable", "example", "readOnly")}
            if node.get("nullable") and "type" in node:
                out["type"] = [node["type"], "null"]
            return out
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node

    return convert(components[name])


def png_colours(path: Path) -> dict[tuple[int, int, int], int]:
    """How many pixels of each RGB colour a PNG holds (Pillow decodes it): enough to tell a
    rendered page from a blank canvas."""
    from PIL import Image

    with Image.open(path) as image:
        return {colour: n for n, colour in image.convert("RGB").getcolors(maxcolors=1 << 24) or []}


def examples(full: int) -> int:
    """How many examples a property test tries: ``full`` in `make test`, a tenth (at least 10)
    in `make test-fast` (HYPOTHESIS_PROFILE=fast)."""
    import os

    return full if os.environ.get("HYPOTHESIS_PROFILE") != "fast" else max(10, full // 10)


Answer = Callable[[socket.socket], None]


class RawServer:
    """Loopback server: reads each request's head and body, then does what ``answer`` does;
    over TLS with ``tls`` (a server context)."""

    def __init__(self, answer: Answer, *, tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.tls = tls
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests = 0
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)  # a failed handshake: OSError
            data = b""
            while b"\r\n\r\n" not in data:
                if not (chunk := conn.recv(65536)):
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.lower().split(b"\r\n")
            length = next((int(x.split(b":")[1]) for x in lines if x.startswith(b"content-length:")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            self.requests += 1
            self.answer(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
