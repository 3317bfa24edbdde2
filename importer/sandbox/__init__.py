"""The local kelviq-compatible customers API (an optional extra: ``kelviq-import[sandbox]``).

``app``: the ASGI application and its faults; ``hosting``: a thread, a process, the foreground.
"""

from __future__ import annotations

from .app import DEFAULT_KEY, PREFIX, SandboxApp, SandboxOptions
from .hosting import SandboxProcess, SandboxServer, serve

__all__ = [
    "DEFAULT_KEY",
    "PREFIX",
    "SandboxApp",
    "SandboxOptions",
    "SandboxProcess",
    "SandboxServer",
    "serve",
]
