"""The generic SSE client: :class:`EventStream` and :func:`open_event_stream`.

The machinery every stream shares is in ``_stream_core.py`` (the task group
and the consumer side), ``_reader.py`` (the attempt loop) and
``_connection.py`` (one connection's request and reads).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar, Unpack

import anyio

from ._backoff import Backoff
from ._headers import (
    TokenSource,
    check_token,
    checked_headers,
    checked_url,
    head_timeout,
    resolve_token,
)
from ._http._proxy import resolve_proxy
from ._lifecycle import Observer
from ._options import DEFAULT_USER_AGENT, EventStreamOptions, Settings, event_stream_settings
from ._request_body import stream_request
from ._stream_core import _StreamCore
from ._stream_parts import StreamArgs, StreamItem, StreamOptions, _Failure
from ._transport import Transport
from .sse import ServerSentEvent

__all__ = [
    "DEFAULT_USER_AGENT",
    "EventItemStream",
    "EventStream",
    "StreamArgs",
    "StreamItem",
    "StreamOptions",
    "TokenSource",
    "check_observers",
    "check_token",
    "configure",
    "open_event_stream",
    "open_item_stream",
    "resolve_token",
]


class EventStream(_StreamCore):
    """A live stream of [`ServerSentEvent`][expys_stream.ServerSentEvent] from any SSE endpoint.

    Get one from [`open_event_stream`][expys_stream.open_event_stream] and use it as an async
    context manager, then as an async iterator:

        async with open_event_stream(url, headers=headers) as stream:
            async for event in stream:
                ...

    It reconnects by itself (full-jitter backoff, ``retry:`` and
    ``Retry-After`` as floors) and resumes with ``Last-Event-ID``. Leaving
    the block closes the connection and cancels any pending reconnect sleep.
    Errors surface from the ``async for`` after every event received before
    them.
    """

    __slots__ = ("_batch", "_index", "_last")

    def __init__(self, url: str, **kwargs: Unpack[StreamArgs]) -> None:
        super().__init__(url, **kwargs)
        self._batch: list[ServerSentEvent] = []
        self._index = 0
        self._last: ServerSentEvent | None = None

    @property
    def last_event_id(self) -> str | None:
        """The ID of the last event this stream returned to you (None before any)."""
        return None if self._last is None else self._last.id

    async def __aenter__(self) -> EventStream:
        await super().__aenter__()
        return self

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ServerSentEvent:
        index = self._index
        batch = self._batch
        if index < len(batch):
            self._index = index + 1
            event: ServerSentEvent = batch[index]
            self._last = event
            return event
        self._batch = []  # used up: an idle stream does not keep it alive
        while True:
            channel = self._open_channel()
            try:
                item = await channel.take()
            except (anyio.EndOfStream, anyio.ClosedResourceError) as exc:
                raise self._ended(exc) from None
            if type(item) is list:
                if item:
                    self._batch = item
                    self._index = 1
                    event = self._last = item[0]
                    return event
            elif isinstance(item, _Failure):
                raise item.error
            # A _Prelude never reaches a plain event stream.

    async def _take_batch(self) -> list[ServerSentEvent]:
        # The sync client's hop (docs/sync.md): the next event, waiting as
        # __anext__ does, and the rest of its batch.
        await self.__anext__()
        batch = self._batch
        events = batch[self._index - 1 :]
        self._index = len(batch)
        self._last = events[-1]
        return events


class EventItemStream(_StreamCore):
    """An event stream that also yields comments and connection events.

    What [`open_item_stream`][expys_stream.open_item_stream] returns: the
    ``async for`` yields
    [`StreamItem`][expys_stream.StreamItem] values, the server's events with
    the connection's events and comments among them, in the order they
    happened. A ``GaveUp`` comes right before the error it announces.

        async with open_item_stream(url) as stream:
            async for item in stream:
                if isinstance(item, ServerSentEvent):
                    ...
    """

    __slots__ = ("_batch", "_index", "_last")

    def __init__(self, url: str, **kwargs: Unpack[StreamArgs]) -> None:
        super().__init__(url, **kwargs)
        self._batch: list[StreamItem] = []
        self._index = 0
        self._last: ServerSentEvent | None = None

    @property
    def last_event_id(self) -> str | None:
        """The ID of the last event this stream returned to you (None before any)."""
        return None if self._last is None else self._last.id

    async def __aenter__(self) -> EventItemStream:
        await super().__aenter__()
        return self

    def __aiter__(self) -> EventItemStream:
        return self

    async def __anext__(self) -> StreamItem:
        while True:
            index = self._index
            batch = self._batch
            if index < len(batch):
                self._index = index + 1
                item = batch[index]
                if type(item) is ServerSentEvent:
                    self._last = item
                return item
            self._batch = []  # used up: an idle stream does not keep it alive
            self._index = 0
            channel = self._open_channel()
            try:
                taken = await channel.take()
            except (anyio.EndOfStream, anyio.ClosedResourceError) as exc:
                raise self._ended(exc) from None
            if isinstance(taken, list):
                self._batch = taken
            elif isinstance(taken, _Failure):
                raise taken.error


def configure(settings: Settings) -> tuple[StreamOptions, Transport]:
    """The validated options and the transport for the public keyword options.

    Shared by ``open_event_stream`` and ``Client``, so that both accept
    and check the same options the same way (see ``_options.py``).
    """
    options = StreamOptions(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        backoff=Backoff(
            base=settings.backoff_base, cap=settings.backoff_cap, reset_after=settings.reset_after
        ),
        max_retries=settings.max_retries,
        max_event_size=settings.max_event_size,
        max_server_delay=settings.max_server_delay,
    )
    transport = Transport(
        pool=settings.pool,
        ssl_context=settings.ssl_context,
        connect_timeout=settings.connect_timeout,
        head_timeout=head_timeout(
            settings.head_timeout, settings.connect_timeout, settings.read_timeout
        ),
        user_agent=settings.user_agent,
        proxy=resolve_proxy(
            settings.proxy, settings.trust_env, pool_given=settings.pool is not None
        ),
        http2=settings.http2,
    )
    return options, transport


def open_event_stream(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    token: TokenSource | None = None,
    last_event_id: str | None = None,
    method: str = "GET",
    body: bytes | None = None,
    json: object = None,
    observers: Iterable[Observer] = (),
    **options: Unpack[EventStreamOptions],
) -> EventStream:
    """Open a reconnecting SSE stream to any ``http(s)`` URL.

    Use the result with ``async with``, then ``async for``. The same
    guarantees as the message stream apply: reconnect with full-jitter
    backoff, ``Last-Event-ID`` resume, idle detection, clean cancellation.
    To see the connection's events and the comments among the events, use
    [`open_item_stream`][expys_stream.open_item_stream].

    Args:
        url: the absolute http or https URL of the event stream.
        headers: extra request headers. They go to the first URL's origin
            only, never to another origin a redirect leads to (they may hold
            credentials); a name in any case replaces the client's header of
            that name (Accept, Cache-Control, User-Agent).
        token: a bearer token, or a sync or async callable that returns a
            fresh one; called before every connection.
        last_event_id: resume after this event ID.
        method: the request method, any HTTP token (``"POST"``,
            ``"REPORT"``...; not HEAD, CONNECT or TRACE), sent in upper case.
        body: the request content, as bytes (not with GET). Its Content-Type
            is the one in ``headers``, else ``application/octet-stream``.
        json: a value to send as a JSON body instead (``Content-Type:
            application/json`` unless ``headers`` names one). The method,
            body and headers are sent again on every reconnect, with
            ``Last-Event-ID``; see "Other methods and bodies" in the guide.
        observers: objects told of every connection event (see
            [`Observer`][expys_stream.Observer]), such as
            ``expys_stream.otel.OpenTelemetryObserver()``.
        **options: the options of
            [`EventStreamOptions`][expys_stream.EventStreamOptions]
            (``pool``, ``connect_timeout``, ``read_timeout``,
            ``backoff_base``, ``backoff_cap``, ``reset_after``,
            ``max_retries``, ``max_event_size``, ``ssl_context``,
            ``user_agent``, ``head_timeout``, ``proxy``, ``trust_env``,
            ``max_server_delay``, ``http2``), each
            with its default there.

    Raises:
        TypeError: an unknown option, or one of the wrong type.
        ValueError: an argument is invalid (checked before any I/O).
    """
    request = (method, body, json)
    return _open(
        EventStream, url, headers, token, last_event_id, request, observers, False, False, options
    )


def open_item_stream(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    token: TokenSource | None = None,
    last_event_id: str | None = None,
    method: str = "GET",
    body: bytes | None = None,
    json: object = None,
    lifecycle: bool = True,
    comments: bool = True,
    observers: Iterable[Observer] = (),
    **options: Unpack[EventStreamOptions],
) -> EventItemStream:
    """[`open_event_stream`][expys_stream.open_event_stream], with the
    connection's events and the server's comments among the events.

    The ``async for`` yields [`StreamItem`][expys_stream.StreamItem] values
    in stream order: each [`ServerSentEvent`][expys_stream.ServerSentEvent],
    and, as asked, each [`Comment`][expys_stream.Comment] and each
    connection event ([`Connecting`][expys_stream.Connecting],
    ``Connected``, ``Disconnected``, ``Retrying``, ``GaveUp``). A
    ``Retrying`` arrives before the wait it announces; a ``GaveUp`` right
    before the error it announces.

    Args:
        url: as for ``open_event_stream``.
        headers: as for ``open_event_stream``.
        token: as for ``open_event_stream``.
        last_event_id: as for ``open_event_stream``.
        method: as for ``open_event_stream``.
        body: as for ``open_event_stream``.
        json: as for ``open_event_stream``.
        lifecycle: yield the connection's events.
        comments: yield the comment lines (keepalives).
        observers: as for ``open_event_stream``.
        **options: as for ``open_event_stream``.

    Raises:
        TypeError: an unknown option, or one of the wrong type.
        ValueError: an argument is invalid (checked before any I/O).
    """
    request = (method, body, json)
    return _open(
        EventItemStream,
        url,
        headers,
        token,
        last_event_id,
        request,
        observers,
        lifecycle,
        comments,
        options,
    )


_S = TypeVar("_S", EventStream, EventItemStream)


def _open(
    cls: type[_S],
    url: str,
    headers: Mapping[str, str] | None,
    token: TokenSource | None,
    last_event_id: str | None,
    request: tuple[str, bytes | None, object],
    observers: object,
    lifecycle: bool,
    comments: bool,
    options: EventStreamOptions,
) -> _S:
    name = "open_event_stream()" if cls is EventStream else "open_item_stream()"
    settings = event_stream_settings(options, name)
    url = checked_url(url)
    headers = checked_headers(headers, token=token)
    checked_request = stream_request(*request, headers)
    if token is not None:
        check_token(token)
    for flag, value in (("lifecycle", lifecycle), ("comments", comments)):
        if type(value) is not bool:
            raise TypeError(f"{flag} must be a bool, not {type(value).__name__}")
    checked = check_observers(observers)
    stream_options, transport = configure(settings)
    return cls(
        url,
        transport=transport,
        owns_transport=True,
        headers=headers,
        token=token,
        last_event_id=last_event_id,
        options=stream_options,
        observers=checked,
        queue_lifecycle=lifecycle,
        comments=comments,
        request=checked_request,
    )


def check_observers(observers: object) -> list[Observer]:
    """The observers as a list, each checked to have ``on_lifecycle`` (before any I/O)."""
    if isinstance(observers, str | bytes) or not isinstance(observers, Iterable):
        raise TypeError("observers must be an iterable of observers")
    checked: list[Observer] = list(observers)
    for observer in checked:
        if not callable(getattr(observer, "on_lifecycle", None)):
            raise TypeError(
                f"an observer needs an on_lifecycle method; {type(observer).__name__} has none"
            )
    return checked


EventStream.__module__ = "expys_stream"
EventItemStream.__module__ = "expys_stream"
open_event_stream.__module__ = "expys_stream"
open_item_stream.__module__ = "expys_stream"
