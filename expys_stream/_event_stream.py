"""The generic SSE client: connect, read, reconnect, resume, cancel.

Shape (see docs/cancellation.md): entering the stream opens an anyio task
group and starts one reader task in it. The reader owns the connection; it
reads the socket, feeds the SSE decoder, and passes the decoded events to
the consumer through a small memory channel, one batch per socket read. The
consumer (the user's ``async for``) takes batches off the channel. The user's
code runs between our ``__aenter__`` and ``__aexit__``, never inside a
generator: ``__aexit__`` cancels the reader, whose socket read or backoff
sleep ends at once, closes the response (shielded, bounded), and waits for
the task to finish.

The reader never lets an exception escape into the task group: a failure
travels down the channel and is raised from the consumer's next
``__anext__``, after every event that arrived before it. So the user's block
is never cancelled by us, an exception the user raises leaves the block as
the very same object, and no ``ExceptionGroup`` reaches the user.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Required, TypedDict, TypeVar, Unpack

import anyio
from anyio.abc import TaskGroup

from ._backoff import (
    MAX_RETRY_AFTER,
    Backoff,
    check_max_server_delay,
    is_seconds,
    parse_retry_after,
)
from ._channel import Channel
from ._errors import (
    AuthenticationError,
    ExpysError,
    NotAnEventStream,
    NotFoundError,
    ProtocolError,
    RetryLimitExceeded,
    Secrets,
    StreamClosed,
    TLSVerificationError,
    TransportError,
)
from ._http._chunked import FramingError
from ._http._http11 import StreamBody, open_body
from ._http._proxy import resolve_proxy
from ._options import DEFAULT_USER_AGENT, EventStreamOptions, Settings, event_stream_settings
from ._policy import DEFAULT_MAX_SERVER_DELAY, retry_delay
from ._request_body import GET, StreamRequest, stream_request
from ._transport import (
    Response,
    Transport,
    _redact,
    ascii_url,
    header_problem,
    read_timeout_error,
    status_error,
)
from .sse import DEFAULT_MAX_EVENT_SIZE, EventTooLarge, ServerSentEvent, SSEDecoder

__all__ = [
    "DEFAULT_USER_AGENT",
    "EventStream",
    "StreamArgs",
    "StreamOptions",
    "TokenSource",
    "check_token",
    "configure",
    "open_event_stream",
    "resolve_token",
]

logger = logging.getLogger("expys_stream")

TokenSource = str | Callable[[], str] | Callable[[], Awaitable[str]]
"""A member token, or a callable (sync or async) that returns a fresh one.

A callable is called before every connection and reconnection, so that an
expiring token can be refreshed; a sync one runs on the event loop.
"""

#: How many recent message ids a message stream remembers to skip replays.
REPLAY_WINDOW = 1024

_T = TypeVar("_T")


async def resolve_token(source: TokenSource) -> str:
    """The token to send now: the string, or what the provider returns."""
    if isinstance(source, str):
        token = source
    else:
        result = source()
        token = await result if inspect.isawaitable(result) else result
    if not isinstance(token, str) or not token:
        raise TypeError("the token provider must return a non-empty str")
    _check_token_text(token)
    return token


def check_token(source: object) -> None:
    """Check a token argument before any I/O: a str fit for a header, or a callable.

    Raises:
        TypeError: neither a non-empty str nor a callable.
        ValueError: a str that no Authorization header can carry.
    """
    if callable(source):
        return
    if not isinstance(source, str) or not source:
        raise TypeError("token must be a non-empty str or a callable returning one")
    _check_token_text(source)


def _check_token_text(token: str) -> None:
    if header_problem("Authorization", token) is not None:
        # (Never quoted: it is the credential.)
        raise ValueError(
            "a token must be text an HTTP header can carry: no CR, LF, NUL, vertical "
            "tab, form feed or lone surrogate, and no blank at either end"
        )


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


class _NewConnection(list[ServerSentEvent]):
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
_Item = list[ServerSentEvent] | _Failure | _Prelude[Any]

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
    request: StreamRequest


class _StreamCore:
    """What every stream shares: the task group, the reader, the channel."""

    # Slotted: a process may hold thousands of idle streams (docs/performance.md).
    __slots__ = (
        "__weakref__",
        "_bulk_body",
        "_channel",
        "_filter_replays",
        "_headers",
        "_not_found",
        "_options",
        "_owns_transport",
        "_prelude",
        "_reader_scope",
        "_reconnects",
        "_request",
        "_resume_id",
        "_retry_floor",
        "_secrets",
        "_shut",
        "_state",
        "_stopped",
        "_task_group",
        "_token",
        "_transport",
        "_url",
    )

    def __init__(
        self,
        url: str,
        *,
        transport: Transport,
        owns_transport: bool,
        headers: Mapping[str, str] | None,
        token: TokenSource | None,
        last_event_id: str | None,
        options: StreamOptions,
        not_found: type[NotFoundError] = NotFoundError,
        prelude: Prelude | None = None,
        bulk_body: bool = True,
        secrets: Secrets | None = None,
        request: StreamRequest = GET,
    ) -> None:
        if last_event_id is not None and (
            not isinstance(last_event_id, str) or any(c in last_event_id for c in "\r\n\0")
        ):
            raise ValueError("last_event_id must be a str without CR, LF or NUL")
        if last_event_id and _resume_value(last_event_id) is None:
            raise ValueError(
                "last_event_id cannot go in a Last-Event-ID header "
                "(it holds a vertical tab, a form feed or a lone surrogate)"
            )
        self._url = url
        self._transport = transport
        self._owns_transport = owns_transport
        self._headers = dict(headers) if headers else None
        self._token = token
        self._options = options
        self._not_found = not_found
        self._prelude = prelude
        self._bulk_body = bulk_body
        self._request = request  # method, body, Content-Type: sent on every connection
        # What nothing this stream emits may contain: the caller's header
        # values, and each token once it was sent (see Secrets).
        self._secrets = Secrets.of_headers(headers) if secrets is None else secrets
        # The reader's view: what it received last (sent as Last-Event-ID).
        self._resume_id = last_event_id or ""
        self._retry_floor = 0.0
        self._reconnects = 0
        # Replay protection (message streams): each connection's first batch
        # goes down the channel as a _NewConnection, whose first messages
        # the consumer checks against the ids it delivered.
        self._filter_replays = False
        self._task_group: TaskGroup | None = None
        self._reader_scope: anyio.CancelScope | None = None
        self._channel: Channel[_Item] | None = None
        self._state = "new"  # new -> open -> closed
        self._stopped = False  # aclose() was called
        self._shut = False  # the client that owns the transport was closed

    # -- the consumer side --------------------------------------------------

    @property
    def reconnects(self) -> int:
        """How many times the stream has reconnected so far."""
        return self._reconnects

    async def __aenter__(self) -> Any:
        if self._state != "new":
            raise StreamClosed("a stream can be entered only once")
        channel: Channel[_Item] = Channel(self._options.buffer_batches)
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        self._channel = channel
        self._state = "open"
        if not self._owns_transport:  # a client's: its aclose() ends this stream
            self._transport.on_close(self._client_closed)
        # A constant name: a per-URL string would be kept by every task.
        task_group.start_soon(self._run, channel, name="expys_stream reader")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    async def aclose(self) -> None:
        """Stop the stream now: cancel the reader, close the connection.

        Idempotent. Leaving the ``async with`` block does this too.
        """
        self._stopped = True
        if self._reader_scope is not None:
            self._reader_scope.cancel()
        if self._channel is not None:
            self._channel.close_take()

    async def _close(self) -> None:
        task_group = self._task_group
        if task_group is None or self._state == "closed":
            return
        self._state = "closed"
        task_group.cancel_scope.cancel()
        if self._channel is not None:
            self._channel.close_take()
        try:
            # The user's own exception, if any, is not handed to the task
            # group: it would come back wrapped in an ExceptionGroup. It
            # keeps propagating untouched once this method returns.
            await task_group.__aexit__(None, None, None)
        except BaseExceptionGroup as group:
            raise _unwrap(group) from None
        finally:
            self._task_group = None
            if self._owns_transport:
                await self._transport.aclose()
            else:
                self._transport.discard_on_close(self._client_closed)

    def _client_closed(self) -> None:
        # The client was closed under the stream: the reader stops where it
        # is and the consumer gets StreamClosed.
        self._shut = True
        if self._reader_scope is not None:
            self._reader_scope.cancel()

    def _open_channel(self) -> Channel[_Item]:
        # The consumer's side: callers await ``channel.take()`` themselves
        # (a helper coroutine would be one more frame kept by every idle
        # stream) and turn its end into ours with ``_ended``.
        channel = self._channel
        if channel is None or self._state != "open":
            raise StreamClosed("the stream is not open: use it inside `async with`")
        return channel

    def _ended(self, exc: Exception) -> Exception:
        if isinstance(exc, anyio.EndOfStream) or self._stopped:  # aclose() ends it too
            return StopAsyncIteration()
        return StreamClosed("the stream was closed")

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if getattr(self, "_state", "closed") == "open":
            _warn(
                f"expys_stream stream for {_redact(getattr(self, '_url', ''))} was never closed",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )

    # -- the reader task ----------------------------------------------------

    async def _run(self, send: Channel[_Item]) -> None:
        try:
            if not self._stopped:  # aclose() may come before the task starts
                await self._read_forever(send)
        except Exception as exc:  # becomes the stream's terminal error
            if isinstance(exc, ExpysError):  # (not a token provider's own error)
                self._secrets.error(exc)
            with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await send.put(_Failure(exc))
        finally:
            send.close_put()

    async def _read_forever(self, send: Channel[_Item]) -> None:
        # Each attempt (its backoff sleep or the prelude, its connection and
        # its reads) runs in a cancel scope of its own. aclose() cancels it;
        # while a bulk body waits on the socket, its deadline is the read
        # timeout. So an idle stream holds one scope, and a scope that its
        # deadline cancelled is never reused.
        options = self._options
        attempt = 0  # consecutive failed attempts
        auth_retry_spent = False
        delay: float | None = None  # None: the first attempt, after the prelude
        while True:
            connected_at: list[float] = []
            error: ExpysError | None = None
            retry_after = None
            if self._shut:  # closed before this attempt began: no token fetched
                raise StreamClosed("the client was closed")
            with anyio.CancelScope() as scope:
                self._reader_scope = scope
                if delay is None:
                    await self._run_prelude(send)  # its errors are final
                else:
                    await anyio.sleep(delay)
                    self._reconnects += 1
                try:
                    if await self._attempt(send, scope, connected_at):
                        logger.info("the server ended the stream (204): %s", self._url_for_log)
                        return
                    error = TransportError("the server closed the stream")
                except _Retry as retry:
                    error, retry_after = retry.error, retry.retry_after
                except TLSVerificationError:
                    raise  # a configuration problem: it will not heal
                except AuthenticationError as exc:
                    if auth_retry_spent or isinstance(self._token, str) or self._token is None:
                        raise
                    auth_retry_spent = True  # one fresh token, then give up
                    error = exc
                except TransportError as exc:
                    error = exc
            if self._stopped:  # aclose() cancelled the scope
                return
            if self._shut:
                raise StreamClosed("the client was closed")
            if error is None:  # the scope caught its deadline: silence
                error = read_timeout_error(self._url)
            self._secrets.error(error)  # before it is logged or raised
            if connected_at:
                auth_retry_spent = False
                if anyio.current_time() - connected_at[0] >= options.backoff.reset_after:
                    attempt = 0
            if options.max_retries is not None and attempt >= options.max_retries:
                raise RetryLimitExceeded(attempt + 1, error) from error
            wait = retry_delay(
                options.backoff,
                attempt,
                retry_field=self._retry_floor or None,
                retry_after=retry_after,
                max_server_delay=options.max_server_delay,
            )
            if wait.reason == "capped":
                self._secrets.log(
                    logger,
                    logging.WARNING,
                    "the server asked to wait %.0f s before reconnecting to %s; "
                    "waiting %.2f s (max_server_delay)",
                    max(self._retry_floor, retry_after or 0.0),
                    self._url_for_log,
                    wait.seconds,
                )
            delay = wait.seconds
            attempt += 1
            self._secrets.log(
                logger,
                logging.INFO,
                "reconnecting to %s in %.2f s after: %s (resume after %r)",
                self._url_for_log,
                delay,
                error,
                self._resume_id or None,
            )

    async def _run_prelude(self, send: Channel[_Item]) -> None:
        if self._prelude is None:
            return
        items, resume = await self._prelude()
        if resume is not None:
            self._resume_id = resume
        if items:
            await send.put(_Prelude(items))

    @property
    def _url_for_log(self) -> str:
        return _redact(self._url)

    async def _attempt(
        self, send: Channel[_Item], scope: anyio.CancelScope, connected_at: list[float]
    ) -> bool:
        """One connection; True when the server asked us to stop (204)."""
        headers, origin_only = await self._request_headers()
        # The credential sent, to blank it out of anything we emit.
        secret = _bearer(origin_only)
        if secret:
            self._secrets = self._secrets.with_tokens(secret)
        request = self._request
        response = await self._transport.open(
            request.method,
            self._url,
            headers,
            origin_only=origin_only,
            body=request.body,
            content_type=request.content_type,
            read_timeout=self._options.read_timeout,
        )
        del headers, origin_only  # (not kept alive by this frame while the stream is idle)
        try:
            await self._check(response, secret)
            if response.status == 204:
                return True
            connected_at.append(anyio.current_time())
            self._secrets.log(
                logger,
                logging.INFO,
                "connected to %s (resume after %r)",
                self._url_for_log,
                self._resume_id or None,
            )
            await self._pump(response, send, scope)
            return False
        finally:
            await response.aclose()

    async def _request_headers(self) -> tuple[dict[str, str], dict[str, str]]:
        # The protocol headers (sent on every redirect hop) and the
        # caller's with the token (sent to the first URL's origin only; a
        # name there replaces ours in any case). Built in a function of its
        # own so that the reader's suspended frame does not keep the dicts
        # alive for the life of the connection.
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        origin_only = dict(self._headers) if self._headers else {}
        if self._token is not None:
            origin_only["Authorization"] = "Bearer " + await resolve_token(self._token)
        if self._resume_id:
            value = _resume_value(self._resume_id)
            if value is None:
                # No resume is possible: an error, not a stream that
                # silently starts over.
                raise ProtocolError(
                    f"the stream's last event ID {self._resume_id!r} "
                    "cannot be sent back in Last-Event-ID"
                )
            headers["Last-Event-ID"] = value
        return headers, origin_only

    async def _check(self, response: Response, secret: str | None) -> None:
        status = response.status
        if status == 204:
            return
        if status != 200:
            body = self._secrets.data(await response.read_bounded())
            error = status_error(
                status, body, response.url, not_found=self._not_found, secret=secret
            )
            if status in (408, 429) or status >= 500:
                raise _Retry(error, parse_retry_after(response.header(b"retry-after")))
            raise error
        if not _is_event_stream(response.content_type):
            # (Blanked before the error cuts it: no part of a secret at the cut.)
            raise NotAnEventStream(self._secrets.text(response.content_type))

    async def _pump(
        self, response: Response, send: Channel[_Item], scope: anyio.CancelScope
    ) -> None:
        # The hot loop: one socket read, one decoder feed, one channel hop.
        body = open_body(response, self._options.read_timeout, scope, bulk=self._bulk_body)
        decoder = SSEDecoder(self._options.max_event_size, last_event_id=self._resume_id)
        feed = decoder.feed
        read = body.read
        first = self._filter_replays  # the next batch is the connection's first
        broken: ProtocolError | None = None
        try:
            while True:
                try:
                    payload = await read()
                except ProtocolError as exc:
                    # Broken HTTP framing: worth a new connection, once the
                    # payload that came intact before it is delivered (not
                    # for a gzip or deflate body: that payload is still coded).
                    broken = exc
                    payload = exc.take_payload() if isinstance(exc, FramingError) else b""
                    if type(body) is not StreamBody:
                        payload = b""
                if payload:
                    try:
                        events = feed(payload)
                    except EventTooLarge as exc:
                        if exc.events:
                            await send.put(_NewConnection(exc.events) if first else exc.events)
                            exc.events = []  # delivered: the error does not keep them
                        raise
                    if events:
                        if first:
                            events = _NewConnection(events)
                            first = False
                        await send.put(events)
                    if broken is None:
                        continue
                if broken is not None:
                    raise _Retry(broken)
                break
        finally:
            await body.aclose()
            self._resume_id = decoder.last_event_id
            if decoder.retry is not None:
                # Capped like Retry-After: a server asking for years is broken.
                self._retry_floor = min(decoder.retry / 1000.0, MAX_RETRY_AFTER)


def _unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception a user should see instead of a task group's group."""
    leaves = list(_leaves(group))
    for leaf in leaves:  # KeyboardInterrupt and SystemExit win
        if isinstance(leaf, KeyboardInterrupt | SystemExit):
            return leaf
    for leaf in leaves:
        if not isinstance(leaf, anyio.get_cancelled_exc_class()):
            return leaf
    return leaves[0] if leaves else group


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


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
            event = self._last = batch[index]
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
        head_timeout=_head_timeout(
            settings.head_timeout, settings.connect_timeout, settings.read_timeout
        ),
        user_agent=settings.user_agent,
        proxy=resolve_proxy(
            settings.proxy, settings.trust_env, pool_given=settings.pool is not None
        ),
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
    **options: Unpack[EventStreamOptions],
) -> EventStream:
    """Open a reconnecting SSE stream to any ``http(s)`` URL.

    Use the result with ``async with``, then ``async for``. The same
    guarantees as the message stream apply: reconnect with full-jitter
    backoff, ``Last-Event-ID`` resume, idle detection, clean cancellation.

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
        **options: the options of
            [`EventStreamOptions`][expys_stream.EventStreamOptions]
            (``pool``, ``connect_timeout``, ``read_timeout``,
            ``backoff_base``, ``backoff_cap``, ``reset_after``,
            ``max_retries``, ``max_event_size``, ``ssl_context``,
            ``user_agent``, ``head_timeout``, ``proxy``, ``trust_env``,
            ``max_server_delay``), each
            with its default there.

    Raises:
        TypeError: an unknown option, or one of the wrong type.
        ValueError: an argument is invalid (checked before any I/O).
    """
    settings = event_stream_settings(options, "open_event_stream()")
    url = _checked_url(url)
    headers = _checked_headers(headers, token=token)
    request = stream_request(method, body, json, headers)
    if token is not None:
        check_token(token)
    stream_options, transport = configure(settings)
    return EventStream(
        url,
        transport=transport,
        owns_transport=True,
        headers=headers,
        token=token,
        last_event_id=last_event_id,
        options=stream_options,
        request=request,
    )


def _bearer(headers: Mapping[str, str]) -> str | None:
    """The credential of the Authorization header (any case), if any."""
    for name, value in headers.items():
        if name.lower() == "authorization":
            return value.partition(" ")[2] or value
    return None


def _checked_url(url: str) -> str:
    if not isinstance(url, str):
        raise TypeError("url must be a str")
    try:
        return ascii_url(url)
    except ValueError as exc:
        # (Without userinfo, query or fragment, which may hold a key.)
        try:
            shown = repr(_redact(url))
        except ValueError:  # not even splittable
            shown = "(not shown)"
        raise ValueError(f"not an absolute http(s) URL: {shown}: {exc}") from None


# Headers that describe the connection or the body: HTTP/1.1 framing is
# ours to write, and a second Host would be a different request. The body's
# coding is ours too (identity; gzip and deflate are decoded if a server
# sends them anyway), and the resume point has its own argument.
_OWN_HEADERS = {
    "host": "",
    "content-length": "",
    "transfer-encoding": "",
    "connection": "",
    "accept-encoding": " (identity; gzip and deflate are decoded if sent anyway)",
    "last-event-id": ": pass last_event_id= instead",
}


def _checked_headers(
    headers: Mapping[str, str] | None, *, token: object = None
) -> Mapping[str, str] | None:
    """The caller's headers, checked: names are case-insensitive, so one
    given twice in two cases is refused, as is one the client must write."""
    if headers is None:
        return None
    if not isinstance(headers, Mapping):
        raise TypeError("headers must be a mapping of str to str")
    seen: set[str] = set()
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem is not None:
            raise ValueError(f"headers: {problem}")
        key = name.lower()
        if key in _OWN_HEADERS:
            raise ValueError(f"headers: {name} is written by the client itself{_OWN_HEADERS[key]}")
        if key in seen:
            raise ValueError(f"headers: {name} is given twice (names are case-insensitive)")
        if key == "authorization" and token is not None:
            raise ValueError("headers: give either token= or an Authorization header, not both")
        seen.add(key)
    return headers


def _head_timeout(
    head_timeout: float | None, connect_timeout: float | None, read_timeout: float | None
) -> float | None:
    """The deadline for a response head: the one given, or connect + read."""
    if head_timeout is not None:
        if not is_seconds(head_timeout) or not head_timeout > 0:
            raise ValueError(
                f"head_timeout must be a positive number or None, not {head_timeout!r}"
            )
        return float(head_timeout)
    parts = [t for t in (connect_timeout, read_timeout) if t is not None]
    return float(sum(parts)) if parts else None


def _resume_value(event_id: str) -> str | None:
    """The Last-Event-ID value for a last event ID, or None if none can carry it.

    As Fetch does to every header value, spaces and tabs at either end are
    dropped (an ``id`` field may hold them). A vertical tab, a form feed or
    a lone surrogate inside it cannot go in an HTTP/1.1 header at all.
    """
    value = event_id.strip(" \t")
    return None if header_problem("Last-Event-ID", value) else value


EventStream.__module__ = "expys_stream"
open_event_stream.__module__ = "expys_stream"
