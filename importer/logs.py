"""Logging for runs: events, not chatter. Set up in one place from -v/-vv, --log-file, --log-format.

The library logs to the ``kelviq_import`` logger with an ``event`` name and fields in
``extra``; it never configures handlers itself (an orchestrator embedding it keeps its own).
Levels: WARNING aborts and warnings (the default), INFO run start/end and retries (-v),
DEBUG one line per row (-vv). The API key is never passed to a log call.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

__all__ = ["LOGGER", "configure", "event"]

LOGGER = logging.getLogger("kelviq_import")
_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def event(level: int, name: str, message: str, **fields: Any) -> None:
    """Log ``message`` as event ``name`` with structured ``fields``."""
    if LOGGER.isEnabledFor(level):
        LOGGER.log(level, message, extra={"event": name, **fields})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, event, message and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.name),
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key != "event":
                data[key] = value
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(data, default=str, ensure_ascii=False)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time, like logging's last resort: a handler
    bound to the stderr of the moment breaks once that stream is replaced and closed."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%dT%H:%M:%S")


def configure(
    verbosity: int = 0, log_file: Path | None = None, log_format: str = "text", *, quiet: bool = False
) -> None:
    """Console (stderr) at WARNING/INFO/DEBUG for 0/1/2+, ERROR with ``quiet`` (the summary
    line says it all, once); the log file at INFO or more."""
    console_level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    if quiet:
        console_level = logging.ERROR
    formatter: logging.Formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    for old in LOGGER.handlers:
        old.close()
    LOGGER.handlers.clear()
    LOGGER.propagate = False
    console = _Stderr()
    console.setLevel(console_level)
    console.setFormatter(formatter)
    LOGGER.addHandler(console)
    level = console_level
    if log_file is not None:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setLevel(min(console_level, logging.INFO))
        handler.setFormatter(formatter)
        LOGGER.addHandler(handler)
        level = min(level, logging.INFO)
    LOGGER.setLevel(level)
