"""A stream's connection life: its states, its events, its statistics.

The events and states are in ``_connection_events.py``. The reader
(``_reader.py`` and ``_connection.py``) drives one :class:`Lifecycle` per stream
through the transitions below; each transition updates the state and the
statistics and hands its events, in order, to the observers. Nothing here
does I/O or reads a clock other than the one it is given, so the machine is
tested on its own.

States and transitions. A stream starts CONNECTING, before its first
attempt has begun; CLOSED is final.

    state        input            next state   events emitted
    -----------  ---------------  -----------  ------------------------------
    CONNECTING   begin            CONNECTING   Connecting
    RETRYING     begin            CONNECTING   Connecting
    CONNECTING   connected        OPEN         Connected
    CONNECTING   retry            RETRYING     Disconnected, Retrying
    OPEN         retry            RETRYING     Disconnected, Retrying
    CONNECTING   give_up          CLOSED       Disconnected, GaveUp
    OPEN         give_up          CLOSED       Disconnected, GaveUp
    RETRYING     give_up          CLOSED       GaveUp
    any but CLOSED  close         CLOSED       Disconnected (if an attempt
                                               had begun and not ended)
    CLOSED       close            CLOSED       (nothing: close is idempotent)

Rules:

* ``begin`` starts an attempt; ``connected`` and ``retry`` may follow only
  within it (so CONNECTING before the first attempt refuses them).
  Only one attempt is in flight, and ``Disconnected`` ends every attempt
  that began (``was_open`` says whether it had connected), so an observer
  can pair each ``Connecting`` with one ``Disconnected`` (a span per attempt).
* ``retry`` and ``give_up`` carry the error that ended the attempt, one of
  ours (``ExpysError``); ``close`` is the caller's (or a 204's) end and
  carries none.
* Any other input in a state is a bug in the reader: :class:`LifecycleError`.
* The statistics change only in transitions, except ``events`` and
  ``bytes`` and ``last_byte_at``, which the reader updates per socket read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from ._connection_events import (
    Connected,
    Connecting,
    Disconnected,
    GaveUp,
    LifecycleEvent,
    Retrying,
    StreamState,
)
from ._errors import ExpysError
from ._policy import Delay

__all__ = [
    "Connected",
    "Connecting",
    "Disconnected",
    "GaveUp",
    "Lifecycle",
    "LifecycleError",
    "LifecycleEvent",
    "Observer",
    "Retrying",
    "StreamState",
    "StreamStats",
    "safe_url",
]

logger = logging.getLogger("expys_stream")


@runtime_checkable
class Observer(Protocol):
    """What a stream tells an observer (e.g. the OpenTelemetry one).

    ``on_lifecycle`` gets every connection event, in order. ``on_items`` is
    optional: when defined, it gets each batch of items the stream
    received (events, and comments when asked for), per socket read.
    Observers are called in the stream's reader; they must not block. An
    exception from one is logged and dropped: watching must never break
    the stream.
    """

    def on_lifecycle(self, event: LifecycleEvent, stats: StreamStats) -> None:
        """Called with each connection event and the stream's statistics."""


class StreamStats:
    """A stream's counters (``stream.stats``); cheap to read at any time.

    Attributes:
        attempts: connection attempts begun.
        connections: attempts that connected (got an event stream).
        reconnects: attempts after the first.
        events: events received (before replays are dropped).
        bytes: body bytes received.
        last_byte_at: when the last body bytes arrived, in the
            lifecycle's clock (``time.monotonic()``), or None.
        connected_since: when the current connection opened, or None.
    """

    __slots__ = (
        "_closed_time",
        "attempts",
        "bytes",
        "connected_since",
        "connections",
        "events",
        "last_byte_at",
        "reconnects",
    )

    def __init__(self) -> None:
        self.attempts: int = 0
        self.connections: int = 0
        self.reconnects: int = 0
        self.events: int = 0
        self.bytes: int = 0
        self.last_byte_at: float | None = None
        self.connected_since: float | None = None
        self._closed_time: float = 0.0  # seconds spent in connections that ended

    def time_connected(self, now: float | None = None) -> float:
        """Seconds connected in total, the current connection included (as
        of ``now``, in the same clock; the current monotonic time if None)."""
        since = self.connected_since
        if since is None:
            return self._closed_time
        return self._closed_time + max(0.0, (time.monotonic() if now is None else now) - since)

    def __repr__(self) -> str:
        return (
            f"StreamStats(attempts={self.attempts}, connections={self.connections}, "
            f"reconnects={self.reconnects}, events={self.events}, bytes={self.bytes})"
        )


class LifecycleError(RuntimeError):
    """A transition the table does not allow (a bug in the caller)."""


_S = StreamState
_OPEN_ATTEMPT = (_S.CONNECTING, _S.OPEN)


class Lifecycle:
    """The state machine of one stream: state, statistics and observers.

    Args:
        observers: objects with ``on_lifecycle`` (and optionally
            ``on_items``), or plain callables taking one event.
        clock: seconds, monotonic; ``time.monotonic`` by default.
        queue: also keep every event in :attr:`outbox`, for a reader that
            delivers them among the events (``lifecycle=True``).
    """

    __slots__ = (
        "_attempt",
        "_attempt_open",
        "_observers",
        "clock",
        "on_items",
        "outbox",
        "state",
        "stats",
    )

    def __init__(
        self,
        observers: Iterable[Observer | Callable[[Any], None]] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
        queue: bool = False,
    ) -> None:
        self.state = _S.CONNECTING
        self.stats = StreamStats()
        #: The clock of the statistics' times (the reader reads it too).
        self.clock = clock
        self._attempt = 0  # the number of the attempt in flight (or the last one)
        self._attempt_open = False  # begun and not yet ended
        self.outbox: list[LifecycleEvent] | None = [] if queue else None
        self._observers: list[Callable[[LifecycleEvent, StreamStats], None]] = []
        batch: list[Callable[[Sequence[Any]], None]] = []
        for observer in [*observers, *_default_observers()]:
            if hasattr(observer, "on_lifecycle"):
                self._observers.append(observer.on_lifecycle)
                on_items = getattr(observer, "on_items", None)
                if on_items is not None:
                    batch.append(on_items)
            elif callable(observer):
                self._observers.append(_plain(observer))
            else:
                raise TypeError("an observer is a callable or has an on_lifecycle method")
        #: Called by the reader with each batch of received items, or None
        #: when no observer wants them (so the hot path pays one check).
        self.on_items: Callable[[Sequence[Any]], None] | None = _fan_out(batch)

    # -- transitions --------------------------------------------------------

    def begin(self, attempt: int, method: str, url: str) -> None:
        """An attempt starts (``attempt``: 1, 2, ... in this series)."""
        self._require("begin", _S.CONNECTING, _S.RETRYING)
        if self._attempt_open:
            raise LifecycleError("begin: an attempt is already in flight")
        stats = self.stats
        if stats.attempts:
            stats.reconnects += 1
        stats.attempts += 1
        self._attempt = attempt
        self._attempt_open = True
        self.state = _S.CONNECTING
        self._emit(Connecting(attempt, method, safe_url(url)))

    def connected(
        self,
        status: int,
        headers: Sequence[tuple[str | bytes, str | bytes]],
        resume_id: str,
    ) -> None:
        """The attempt in flight got an event stream. ``headers`` may be raw
        (bytes, as the transport has them): names are lower-cased, bytes
        decoded as latin-1."""
        self._require("connected", _S.CONNECTING)
        if not self._attempt_open:
            raise LifecycleError("connected: no attempt in flight")
        stats = self.stats
        stats.connections += 1
        stats.connected_since = self.clock()
        self.state = _S.OPEN
        self._emit(Connected(status, _header_text(headers), resume_id, self._attempt))

    def retry(
        self, error: ExpysError | None, delay: Delay, *, next_attempt: int | None = None
    ) -> None:
        """The attempt ended with ``error`` (None: the caller's ``restart()``);
        the next, numbered ``next_attempt`` (by default this one's number
        plus one), waits ``delay``."""
        self._require("retry", *_OPEN_ATTEMPT)
        if not self._attempt_open:
            raise LifecycleError("retry: no attempt in flight")
        self._end_attempt(error)
        self.state = _S.RETRYING
        number = self._attempt + 1 if next_attempt is None else next_attempt
        self._emit(Retrying(number, delay.seconds, delay.reason, error))

    def give_up(self, error: ExpysError, *, attempt_error: ExpysError | None = None) -> None:
        """No more attempts: ``error`` is the stream's final error.

        ``attempt_error`` is what ended the attempt in flight, when that
        differs (a ``RetryLimitExceeded`` is the final error of an attempt
        that ended with, say, a ``ConnectError``); ``Disconnected`` carries it.
        """
        self._require("give_up", _S.CONNECTING, _S.OPEN, _S.RETRYING)
        if self._attempt_open:
            self._end_attempt(error if attempt_error is None else attempt_error)
        self.state = _S.CLOSED
        self._emit(GaveUp(error))

    def close(self) -> None:
        """The caller closed the stream, or the server ended it (204)."""
        if self.state is _S.CLOSED:
            return
        if self._attempt_open:
            self._end_attempt(None)
        self.state = _S.CLOSED

    # -- helpers ------------------------------------------------------------

    @property
    def in_attempt(self) -> bool:
        """Whether an attempt has begun and not yet ended."""
        return self._attempt_open

    def connected_for(self) -> float | None:
        """Seconds the attempt in flight (or the last one) has been open,
        or None if it never connected."""
        since = self.stats.connected_since
        return None if since is None else self.clock() - since

    def drain(self) -> list[LifecycleEvent]:
        """The queued events (``queue=True``), oldest first; the queue empties."""
        out = self.outbox
        if not out:
            return []
        self.outbox = []
        return out

    def _require(self, what: str, *allowed: StreamState) -> None:
        if self.state not in allowed:
            raise LifecycleError(f"{what} is not allowed in state {self.state.value}")

    def _end_attempt(self, error: ExpysError | None) -> None:
        stats = self.stats
        since = stats.connected_since
        duration = 0.0
        if since is not None:
            duration = max(0.0, self.clock() - since)
            stats._closed_time += duration
            stats.connected_since = None
        self._attempt_open = False
        self._emit(Disconnected(error, since is not None, duration))

    def _emit(self, event: LifecycleEvent) -> None:
        if self.outbox is not None:
            self.outbox.append(event)
        stats = self.stats
        for observer in self._observers:
            try:
                observer(event, stats)
            except Exception:
                logger.exception("a stream observer failed on %s", type(event).__name__)


def _header_text(
    headers: Sequence[tuple[str | bytes, str | bytes]],
) -> tuple[tuple[str, str], ...]:
    return tuple(
        (
            (name.decode("latin-1") if isinstance(name, bytes) else name).lower(),
            value.decode("latin-1") if isinstance(value, bytes) else value,
        )
        for name, value in headers
    )


def _plain(callback: Callable[[Any], None]) -> Callable[[LifecycleEvent, StreamStats], None]:
    def observe(event: LifecycleEvent, stats: StreamStats) -> None:
        callback(event)

    return observe


def _fan_out(
    callbacks: list[Callable[[Sequence[Any]], None]],
) -> Callable[[Sequence[Any]], None] | None:
    if not callbacks:
        return None

    def on_items(items: Sequence[Any]) -> None:
        for callback in callbacks:
            try:
                callback(items)
            except Exception:
                logger.exception("a stream observer failed on a batch of events")

    return on_items


# Observers every new Lifecycle gets (see _otel.instrument): factories, so
# that each stream has its own observer state.
_DEFAULT_FACTORIES: list[Callable[[], Observer]] = []


def _default_observers() -> list[Observer]:
    return [factory() for factory in _DEFAULT_FACTORIES]


def add_default_observer(factory: Callable[[], Observer]) -> None:
    """Give every stream created from now on an observer made by ``factory``."""
    if factory not in _DEFAULT_FACTORIES:
        _DEFAULT_FACTORIES.append(factory)


def remove_default_observer(factory: Callable[[], Observer]) -> None:
    """Undo :func:`add_default_observer` (streams already made keep theirs)."""
    if factory in _DEFAULT_FACTORIES:
        _DEFAULT_FACTORIES.remove(factory)


def safe_url(url: str) -> str:
    """``url`` without userinfo, query or fragment: what may be shown anywhere."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(not shown)"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


StreamStats.__module__ = "expys_stream"
Observer.__module__ = "expys_stream"
