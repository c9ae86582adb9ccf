"""The library's log on stderr: ``-v``, ``--log-level``, ``EXPYS_LOG``,
``--log-timestamps``."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .._text import printable

__all__ = ["LEVELS", "UTC_FORMAT", "level_from", "library_log", "timestamp"]

#: The names ``--log-level`` and ``EXPYS_LOG`` take.
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "off": logging.CRITICAL + 1,
}
#: Log timestamps: ISO 8601, UTC, milliseconds.
UTC_FORMAT = "%Y-%m-%dT%H:%M:%S"

_LOGGER = "expys_stream"


class LevelError(ValueError):
    """An ``EXPYS_LOG`` value that names no level."""


def level_from(option: str | None, verbose: int, environ: str | None) -> int:
    """The level: ``--log-level``, else ``-v`` (info) / ``-vv`` (debug), else
    ``EXPYS_LOG``, else warning.

    Raises:
        LevelError: ``EXPYS_LOG`` names no level (the option is checked by
            the parser).
    """
    if option is not None:
        return LEVELS[option]
    if verbose:
        return logging.INFO if verbose == 1 else logging.DEBUG
    if environ:
        name = environ.strip().lower()
        if name not in LEVELS:
            known = ", ".join(LEVELS)
            raise LevelError(f"EXPYS_LOG must be one of {known}, not {printable(environ)!r}")
        return LEVELS[name]
    return logging.WARNING


def timestamp(seconds: float | None = None) -> str:
    """``seconds`` (default: now) as ``2026-01-02T03:04:05.678Z``."""
    now = time.time() if seconds is None else seconds
    millis = int(now * 1000) % 1000
    return f"{time.strftime(UTC_FORMAT, time.gmtime(now))}.{millis:03d}Z"


class _Formatter(logging.Formatter):
    # "warning expys_stream: text", the text's controls escaped (it may
    # quote what a server sent), optionally after a timestamp.
    def __init__(self, *, timestamps: bool) -> None:
        super().__init__()
        self._timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname.lower()} {record.name}: {printable(record.getMessage())}"
        if record.exc_info:
            line += " (" + printable(self.formatException(record.exc_info)) + ")"
        return f"{timestamp(record.created)} {line}" if self._timestamps else line


@contextmanager
def library_log(level: int, *, timestamps: bool, needed: int = logging.INFO) -> Iterator[None]:
    """Show the ``expys_stream`` log from ``level`` up on stderr while inside.

    The logger itself is set to let ``needed`` records through as well (the
    status lines are made from INFO records); the level and handlers it had
    are restored on the way out.
    """
    logger = logging.getLogger(_LOGGER)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(_Formatter(timestamps=timestamps))
    before = logger.level
    logger.setLevel(min(level, needed, before or needed))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
