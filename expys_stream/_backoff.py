"""The retry policy: full-jitter exponential backoff with server floors.

Pure functions and a small value object: no I/O, no sleeping. The streaming
client asks :meth:`Backoff.delay` how long to wait before attempt ``n`` and
does the waiting itself, inside its cancel scope.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

__all__ = ["MAX_RETRY_AFTER", "Backoff", "check_max_server_delay", "parse_retry_after"]

#: A Retry-After longer than this (seconds) is taken as this when parsed:
#: a server that asks for days is broken. ``max_server_delay`` (see
#: ``_policy.retry_delay``) then caps what is actually waited.
MAX_RETRY_AFTER = 24 * 60 * 60.0


def is_seconds(value: object) -> bool:
    """Whether ``value`` is a number of seconds: an int or float (not a bool),
    not NaN, and (for an int) one that a float can hold; inf is allowed."""
    if type(value) is bool or not isinstance(value, int | float):
        return False
    try:
        return float(value) == float(value)  # (False for NaN)
    except OverflowError:  # an int past 1e308
        return False


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff.

    ``delay(attempt)`` is ``uniform(0, min(cap, base * 2**attempt))``, but
    never shorter than a floor: the server's latest ``retry:`` value or a
    ``Retry-After``. ``attempt`` counts from 0 for the first retry after a
    failure; the caller resets it once a connection has stayed up for
    ``reset_after`` seconds.
    """

    base: float = 0.5
    cap: float = 10.0
    reset_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("base", "cap", "reset_after"):
            value = getattr(self, name)
            if not is_seconds(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, not {value!r}")
        if self.base == 0 or self.cap < self.base:
            raise ValueError("backoff needs 0 < base <= cap")

    def ceiling(self, attempt: int) -> float:
        """The largest delay the jitter may pick for ``attempt``."""
        if attempt >= 64:  # 2**64 * base is past any cap; avoid huge floats
            return self.cap
        return min(self.cap, self.base * 2.0**attempt)

    def delay(self, attempt: int, *, floor: float = 0.0) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        return max(floor, self.rng.uniform(0.0, self.ceiling(attempt)))


def parse_retry_after(value: str | bytes | None, *, now: float | None = None) -> float | None:
    """The delay, in seconds, that a ``Retry-After`` header asks for.

    RFC 9110 section 10.2.3 allows a number of seconds or an HTTP date. A
    date in the past means 0. Anything unparsable gives None (the header is
    then ignored, as the RFC's "recipients ... MAY ignore" allows). The
    result is capped at :data:`MAX_RETRY_AFTER`.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return min(float(int(text)) if len(text) < 12 else MAX_RETRY_AFTER, MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" dates: RFC 9110 dates are always GMT
        return None
    current = time.time() if now is None else now
    return min(max(0.0, when.timestamp() - current), MAX_RETRY_AFTER)


def check_max_server_delay(value: object) -> float:
    """``max_server_delay`` checked: seconds >= 0 (inf: only the one-day cap)."""
    if isinstance(value, int | float) and is_seconds(value) and value >= 0:
        return float(value)
    raise ValueError(f"max_server_delay must be a number of seconds >= 0, not {value!r}")
