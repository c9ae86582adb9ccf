"""What every stream shares: the task group, the reader task, the channel.

Shape (see docs/cancellation.md): entering the stream starts one reader
task (``_reader_task.py``: a bare task on asyncio, in a trio nursery of the
stream's own on trio). The reader owns the connection; it
reads the socket, feeds the SSE decoder, and passes the decoded events to
the consumer through a small memory channel, one batch per socket read. The
consumer (the user's ``async for``) takes batches off the channel. The user's
code runs between our ``__aenter__`` and ``__aexit__``, never inside a
generator: ``__aexit__`` stops the reader as ``aclose()`` does (cancels its
attempt scope), whose socket read or backoff sleep ends at once, closes the
response (shielded, bounded), and waits for the task to finish.

The reader never lets an exception escape into the task group: a failure
travels down the channel and is raised from the consumer's next
``__anext__``, after every event that arrived before it. So the user's block
is never cancelled by us, an exception the user raises leaves the block as
the very same object, and no ``ExceptionGroup`` reaches the user.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import anyio

from ._channel import Channel
from ._connection_events import StreamState
from ._errors import NotFoundError, Secrets, StreamClosed
from ._headers import TokenSource, resume_value
from ._lifecycle import Lifecycle, Observer, StreamStats
from ._reader import _Reader
from ._reader_task import ReaderTask, join_reader, start_reader
from ._request_body import GET, StreamRequest
from ._stream_parts import Prelude, StreamOptions, _Item
from ._transport import Transport, _redact

__all__: list[str] = []


class _StreamCore(_Reader):
    """What every stream shares: the task group, the reader, the channel."""

    __slots__ = ()  # (the slots are declared on _Connection, the root)

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
        observers: Iterable[Observer | Callable[[Any], None]] = (),
        queue_lifecycle: bool = False,
        comments: bool = False,
        request: StreamRequest = GET,
    ) -> None:
        if last_event_id is not None and (
            not isinstance(last_event_id, str) or any(c in last_event_id for c in "\r\n\0")
        ):
            raise ValueError("last_event_id must be a str without CR, LF or NUL")
        if last_event_id and resume_value(last_event_id) is None:
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
        self._retry_field: float | None = None  # the stream's last retry: field
        # The connection's state machine; queue_lifecycle keeps its events
        # for the reader to deliver among the items.
        self._lifecycle = Lifecycle(observers, queue=queue_lifecycle)
        self._comments = comments
        self._restart = False  # restart() cut the attempt in flight
        self._held: list[Any] | None = None
        # Replay protection (message streams): each connection's first batch
        # goes down the channel as a _NewConnection, whose first messages
        # the consumer checks against the ids it delivered.
        self._filter_replays = False
        self._task: ReaderTask | None = None
        self._reader_scope: anyio.CancelScope | None = None
        self._channel: Channel[_Item] | None = None
        self._state = "new"  # new -> open -> closed
        self._stopped = False  # aclose() was called
        self._shut = False  # the client that owns the transport was closed

    # -- the consumer side --------------------------------------------------

    @property
    def reconnects(self) -> int:
        """How many times the stream has reconnected so far."""
        return self._lifecycle.stats.reconnects

    @property
    def state(self) -> StreamState:
        """Where the connection is: connecting, open, retrying or closed."""
        return self._lifecycle.state

    @property
    def stats(self) -> StreamStats:
        """The stream's counters: attempts, connections, events, bytes, ..."""
        return self._lifecycle.stats

    def restart(self) -> None:
        """Drop the connection now and reconnect, as after a drop.

        The stream resumes after the last event it received (nothing is
        lost or repeated), waits as its backoff says without counting a
        failure, and counts a reconnect. While no attempt is in flight
        (waiting to retry, or not yet connecting) it does nothing.

        Raises:
            StreamClosed: the stream is not open (outside ``async with``).
        """
        if self._state != "open":
            raise StreamClosed("the stream is not open: use it inside `async with`")
        if self._lifecycle.in_attempt and not self._stopped:
            self._restart = True
            if self._reader_scope is not None:
                self._reader_scope.cancel()

    async def __aenter__(self) -> Any:
        if self._state != "new":
            raise StreamClosed("a stream can be entered only once")
        channel: Channel[_Item] = Channel(self._options.buffer_batches)
        if self._owns_transport:  # its HTTP/2 connections live outside our group
            await self._transport.__aenter__()
        else:
            self._transport.check_entered()
        self._channel = channel
        self._task = await start_reader(self._run, channel)
        self._state = "open"
        if not self._owns_transport:  # a client's: its aclose() ends this stream
            self._transport.on_close(self._client_closed)
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
        self._stop()

    def _stop(self) -> None:
        # The reader ends where it is: its attempt scope is cancelled and
        # a hand-over to the closed channel fails at once.
        self._stopped = True
        if self._reader_scope is not None:
            self._reader_scope.cancel()
        if self._channel is not None:
            self._channel.close_take()

    async def _close(self) -> None:
        task = self._task
        if task is None or self._state == "closed":
            return
        self._state = "closed"
        self._stop()  # as aclose() does
        try:
            # The user's own exception, if any, is not handed to the
            # reader's nursery: it would come back wrapped in an
            # ExceptionGroup. It keeps propagating untouched once this
            # method returns.
            await join_reader(task)
        except BaseExceptionGroup as group:
            raise _unwrap(group) from None
        finally:
            self._task = None
            if self._owns_transport:
                await self._transport.__aexit__(None, None, None)
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
