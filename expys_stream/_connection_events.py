"""The connection events a stream emits, and its states (see ``_lifecycle.py``).

Immutable, slotted values: the lifecycle makes them in its transitions and
hands them to observers, or queues them for the reader to deliver among the
events.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from ._errors import ExpysError
from ._policy import RetryReason

__all__ = [
    "Connected",
    "Connecting",
    "Disconnected",
    "GaveUp",
    "LifecycleEvent",
    "Retrying",
    "StreamState",
]


class StreamState(enum.Enum):
    """Where a stream's connection is (``stream.state``)."""

    CONNECTING = "connecting"
    """An attempt is being made (or about to be): connecting, or waiting
    for the response."""
    OPEN = "open"
    """The server answered 200 with an event stream: events may arrive."""
    RETRYING = "retrying"
    """An attempt failed or the connection dropped: waiting out the delay."""
    CLOSED = "closed"
    """Finished: closed by the caller, ended by the server (204), or given up."""


@dataclass(frozen=True, slots=True)
class Connecting:
    """An attempt begins.

    Attributes:
        attempt: 1 for a stream's first attempt and the first after a
            connection that counted as healthy; n for the nth in a row.
        method: the request's method.
        url: the URL, without userinfo, query or fragment.
    """

    _event: ClassVar[str] = ""  # not a server event (see Comment._event)

    attempt: int
    method: str
    url: str


@dataclass(frozen=True, slots=True)
class Connected:
    """The server answered with an event stream.

    Attributes:
        status: the HTTP status (200).
        headers: the response headers, as sent (names lower-cased), in order.
        resume_id: the ``Last-Event-ID`` sent with the request ("" if none).
        attempt: the attempt that connected (see [`Connecting`][expys_stream.Connecting]).
    """

    _event: ClassVar[str] = ""  # not a server event (see Comment._event)

    status: int
    headers: tuple[tuple[str, str], ...]
    resume_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    """An attempt ended, connected or not.

    Attributes:
        error: why, as one of our errors (a ``ReadTimeout`` is a stall);
            None when the caller closed or restarted the stream, or the
            server sent 204.
        was_open: whether the attempt had connected.
        duration: seconds the connection was open (0.0 if it never was).
    """

    _event: ClassVar[str] = ""  # not a server event (see Comment._event)

    error: ExpysError | None
    was_open: bool
    duration: float


@dataclass(frozen=True, slots=True)
class Retrying:
    """The stream waits before its next attempt.

    Attributes:
        attempt: the number the next attempt will have.
        delay: the seconds about to be slept.
        reason: why that long: ``"backoff"``, ``"retry_field"``,
            ``"retry_after"`` or ``"capped"``.
        error: the error that ended the last attempt; None when the
            caller's ``restart()`` ended it.
    """

    _event: ClassVar[str] = ""  # not a server event (see Comment._event)

    attempt: int
    delay: float
    reason: RetryReason
    error: ExpysError | None


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The stream stopped retrying; ``error`` is what its ``async for`` raises.

    Attributes:
        error: the final error (e.g. ``RetryLimitExceeded``, or an error
            that is never retried, such as a 403).
    """

    _event: ClassVar[str] = ""  # not a server event (see Comment._event)

    error: ExpysError


LifecycleEvent = Connecting | Connected | Disconnected | Retrying | GaveUp
"""Any of the connection events, in the order the transitions emit them."""


for _cls in (StreamState, Connecting, Connected, Disconnected, Retrying, GaveUp):
    _cls.__module__ = "expys_stream"
del _cls
