"""What the stream classes share besides code: their options, their
constructor's arguments, and the items the reader sends the consumer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Required, TypedDict, TypeVar

from ._backoff import Backoff, check_max_server_delay, is_seconds
from ._connection_events import LifecycleEvent
from ._errors import ExpysError, NotFoundError, Secrets
from ._headers import TokenSource
from ._lifecycle import Observer
from ._policy import DEFAULT_MAX_SERVER_DELAY
from ._request_body import StreamRequest
from ._transport import Transport
from .sse import DEFAULT_MAX_EVENT_SIZE, Comment, ServerSentEvent

__all__ = [
    "REPLAY_WINDOW",
    "Prelude",
    "StreamArgs",
    "StreamItem",
    "StreamOptions",
]

#: How many recent message ids a message stream remembers to skip replays.
REPLAY_WINDOW = 1024

_T = TypeVar("_T")

StreamItem = ServerSentEvent | Comment | LifecycleEvent
"""What an [`EventItemStream`][expys_stream.EventItemStream] yields, and a
message stream's ``on_event`` gets: a server's event, a comment, or one of
the connection's events."""


@dataclass(frozen=True)
class StreamOptions:
    """How a stream connects, waits and retries. Every field has a default.

    Attributes:
        connect_timeout: seconds to establish a connection (and to send a
            request, and to wait for a pooled connection).
        read_timeout: seconds of silence after which the connection counts
            as dead and is replaced. Keepalive comments count as traffic;
            time spent waiting for a slow consumer does not count.
        backoff: the retry policy (full jitter, 500 ms base, 10 s cap,
            attempt counter reset after 60 s of connection).
        max_retries: consecutive failed attempts allowed before giving up
            with :class:`RetryLimitExceeded`; None retries forever.
        max_event_size: the SSE decoder's limit for a line or an event's
            data, in bytes.
        buffer_batches: socket reads' worth of events the client may hold
            ahead of the consumer before it stops reading the socket.
        max_server_delay: the longest wait a server's ``retry:`` or
            ``Retry-After`` may impose, in seconds (a longer one is cut to
            this, with a warning in the log).
    """

    connect_timeout: float | None = 10.0
    read_timeout: float | None = 45.0
    backoff: Backoff = field(default_factory=Backoff)
    max_retries: int | None = None
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE
    buffer_batches: int = 2
    max_server_delay: float = DEFAULT_MAX_SERVER_DELAY

    def __post_init__(self) -> None:
        check_max_server_delay(self.max_server_delay)
        for name in ("connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if value is not None and (not is_seconds(value) or not value > 0):
                raise ValueError(f"{name} must be a positive number or None, not {value!r}")
        if self.max_retries is not None and (
            type(self.max_retries) is not int or self.max_retries < 0
        ):
            raise ValueError(f"max_retries must be None or an int >= 0, not {self.max_retries!r}")
        if type(self.max_event_size) is not int or self.max_event_size < 1:
            raise ValueError("max_event_size must be a positive int")
        if type(self.buffer_batches) is not int or self.buffer_batches < 1:
            raise ValueError("buffer_batches must be an int >= 1")


class _Retry(Exception):
    """An attempt failed in a way worth retrying (internal)."""

    def __init__(self, error: ExpysError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass
class _Failure:
    """Carries the stream's terminal error down the channel."""

    error: BaseException


class _NewConnection(list[Any]):
    """The first batch of events of a connection (message streams only).

    A server that honours ``Last-Event-ID`` repeats nothing; one that
    replays from an earlier point repeats a run of messages at the start of
    a connection. The consumer skips the leading messages of this batch
    (and of the batches after it) whose ``id`` it already delivered, until
    the first one it did not.
    """

    __slots__ = ()


@dataclass
class _Prelude(Generic[_T]):
    """Items delivered before the first event (a message stream's history)."""

    items: list[_T]


# Everything that may travel down the channel.
_Item = list[Any] | _Failure | _Prelude[Any]

#: Runs in the reader before the first connection: returns items to deliver
#: first and the last event ID to resume after (None keeps the given one).
Prelude = Callable[[], Awaitable[tuple[list[Any], str | None]]]


def _is_event_stream(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"


class StreamArgs(TypedDict, total=False):
    """What a stream class takes besides its URL, from the function that makes it."""

    transport: Required[Transport]
    owns_transport: Required[bool]
    headers: Required[Mapping[str, str] | None]
    token: Required[TokenSource | None]
    last_event_id: Required[str | None]
    options: Required[StreamOptions]
    not_found: type[NotFoundError]
    prelude: Prelude | None
    bulk_body: bool
    secrets: Secrets | None
    observers: Iterable[Observer | Callable[[Any], None]]
    queue_lifecycle: bool
    comments: bool
    request: StreamRequest
