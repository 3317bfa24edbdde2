"""Three ways to host the sandbox app: in a thread of this process (tests), in a process of its
own (load and crash tests, the bench: its own GIL), and in the foreground (the command)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from .app import PREFIX, SandboxApp, SandboxOptions, quiet_lost_responses

__all__ = ["SandboxProcess", "SandboxServer", "serve"]


class SandboxServer:
    """Runs a SandboxApp under uvicorn in a background thread; a context manager for tests."""

    def __init__(self, options: SandboxOptions | None = None, host: str = "127.0.0.1", port: int = 0):
        self.app = SandboxApp(options or SandboxOptions())
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when
        # the listening socket says TCP; without it every keep-alive answer waits ~40 ms.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(2048)  # from now on connections queue, even before uvicorn accepts
        self.host = host
        self.port = self._sock.getsockname()[1]
        self._thread: threading.Thread | None = None
        self._server: Any = None

        logging.getLogger("uvicorn.error").addFilter(quiet_lost_responses)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{PREFIX}"

    def __enter__(self) -> SandboxServer:
        import uvicorn

        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", access_log=False, http="httptools"
        )
        self._server = uvicorn.Server(config)
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)

            async def main() -> None:
                serve = asyncio.ensure_future(self._server.serve(sockets=[self._sock]))
                while not self._server.started and not serve.done():  # noqa: ASYNC110 - uvicorn has no event
                    await asyncio.sleep(0.005)
                started.set()
                await serve

            loop.run_until_complete(main())
            loop.close()

        self._server.config.setup_event_loop = lambda: None
        self._thread = threading.Thread(target=run, name="kelviq-sandbox", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("sandbox server did not start within 10 s")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._sock.close()


class SandboxProcess:
    """The sandbox in a process of its own (its own GIL), for load and crash tests.

    Its state is read over HTTP: ``stats()`` and ``customers()``.
    """

    def __init__(self, *args: str) -> None:
        self._args = args
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> SandboxProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "importer", "sandbox", "--port", "0", *self._args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith("  base URL: "):
                self.base_url = line.split(": ", 1)[1].strip()
                break
        if not self.base_url:
            self.__exit__()
            raise RuntimeError("the sandbox process did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            if self._proc.stdout is not None:
                self._proc.stdout.close()

    def _get(self, path: str) -> Any:
        import urllib.request

        root = self.base_url[: -len(PREFIX)]
        with urllib.request.urlopen(root + path, timeout=30) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return dict(self._get("/_sandbox/stats"))

    def customers(self) -> dict[str, dict[str, Any]]:
        return dict(self._get("/_sandbox/customers"))


def serve(options: SandboxOptions, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Run the sandbox in the foreground until interrupted (the ``sandbox`` command)."""
    import uvicorn

    server = SandboxServer(options, host, port)
    announce(server.base_url)
    config = uvicorn.Config(
        server.app, log_level="warning", lifespan="off", access_log=False, http="httptools"
    )
    uvicorn.Server(config).run(sockets=[server._sock])
