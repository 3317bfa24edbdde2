"""The synchronous entry points' one rule: they run their own event loop, so inside a running
one (Jupyter, an async web handler, an orchestrator's async task) the async twin is the way."""

from __future__ import annotations

import asyncio

from .errors import UsageError

__all__ = ["refuse_running_loop"]


def refuse_running_loop(name: str, async_name: str) -> None:
    """The sync entry points run their own event loop; inside one, the async twin is the way."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise UsageError(f"{name}() was called inside a running event loop; use `await {async_name}(...)` there")
