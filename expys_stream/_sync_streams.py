"""Blocking streams: an async stream held open on the shared portal's loop.

Entering a sync stream starts one *host* task on the portal
(:mod:`expys_stream._portal`) that enters the async stream and waits for an
event; leaving sets that event, so the async stream's own ``__aexit__`` (in
the task that entered it, as anyio requires) closes the connection and any
reconnect timer, and the caller waits until that is done. Iterating takes a
whole batch (one socket read's worth of messages) per trip to the loop with
the async stream's private ``_take_batch`` and hands it out from a list in
the caller's thread.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio

from . import _portal
from ._errors import StreamClosed
from ._event_stream import EventStream as _AsyncEventStream
from ._message_stream import MessageStream as _AsyncMessageStream
from ._message_stream import _id_of
from ._models import Message
from .sse import ServerSentEvent

__all__ = ["EventStream", "MessageStream"]

_T = TypeVar("_T")
_S = TypeVar("_S", bound="_SyncStream[Any]")


class _SyncStream(Generic[_T]):
    """What both sync streams share: the host task, the lease, the hops."""

    __slots__ = (
        "__weakref__",
        "_astream",
        "_done",
        "_host",
        "_index",
        "_items",
        "_lease",
        "_lock",
        "_state",
        "_stopping",
    )

    def __init__(self, astream: Any) -> None:
        self._astream = astream
        self._state = "new"  # new -> open -> closed (close()) or exited (the block)
        self._stopping = False  # (loop thread) _stop ran: the host must not wait
        self._lock = threading.Lock()  # close() may come from another thread
        self._lease: _portal.Lease | None = None
        self._host: Future[None] | None = None
        self._done: anyio.Event | None = None  # set on the loop: leave the block
        self._items: list[_T] = []  # the batch being handed out
        self._index = 0

    @property
    def reconnects(self) -> int:
        """How many times the stream has reconnected so far."""
        return int(self._astream.reconnects)

    def __enter__(self: _S) -> _S:
        _portal.check_thread()
        with self._lock:
            if self._state != "new":
                raise StreamClosed("a stream can be entered only once")
            self._state = "open"
        lease = self._lease = _portal.lease()
        entered: Future[None] = Future()
        try:
            self._host = lease.portal.start_task_soon(
                self._hold, entered, name="expys_stream sync host"
            )
            _portal.wait(entered)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close("exited")

    def close(self) -> None:
        """Stop the stream now: close the connection and any reconnect timer.

        Returns once they are closed. Idempotent; may be called from another
        thread, where it ends the iteration that waits in this one. Leaving
        the ``with`` block does this too.
        """
        self._close("closed")

    def _close(self, state: str) -> None:
        with self._lock:
            if self._state in ("closed", "exited"):
                if state == "exited":
                    self._state = state
                return
            self._state = state
        self._items = []
        self._index = 0
        lease, host = self._lease, self._host
        self._lease = self._host = None
        if lease is None:
            return
        try:
            if host is not None and lease.valid:
                try:
                    _portal.call(lease.portal, self._stop)
                finally:
                    # The host's __aexit__: raises what closing raised.
                    _portal.wait(host)
        finally:
            lease.release()

    async def _hold(self, entered: Future[None]) -> None:
        # The host task: the async stream lives inside this one task.
        try:
            async with self._astream:
                self._done = anyio.Event()
                entered.set_result(None)
                if not self._stopping:  # (close() came during the entry)
                    await self._done.wait()
        except BaseException as exc:
            if entered.done():
                raise
            entered.set_exception(exc)  # raised by __enter__, once

    async def _stop(self) -> None:
        # aclose() first: an iteration waiting in another thread ends
        # (StopIteration) instead of seeing StreamClosed.
        self._stopping = True
        await self._astream.aclose()
        if self._done is not None:
            self._done.set()

    def __iter__(self: _S) -> _S:
        return self

    def __next__(self) -> _T:
        index = self._index
        items = self._items
        if index < len(items):
            self._index = index + 1
            return items[index]
        return self._fetch()

    def _fetch(self) -> _T:
        # One trip to the loop for the next batch.
        lease = self._lease
        if self._state != "open" or lease is None:
            if self._state == "closed":  # close() ends the iteration
                raise StopIteration
            raise StreamClosed("the stream is not open: use it inside `with`")
        _portal.check_thread()
        self._used_up()  # an idle stream does not keep its last batch alive
        try:
            batch = _portal.call(lease.portal, self._take)
        except BaseException as exc:
            if self._state == "closed" and isinstance(exc, RuntimeError):
                raise StopIteration from None  # close() from another thread won the race
            if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit
                self.close()
            raise
        if batch is None:
            raise StopIteration
        self._accept(batch)
        self._index = 1
        return self._items[0]

    def _used_up(self) -> None:
        self._items = []
        self._index = 0

    async def _take(self) -> Any:
        try:
            return await self._astream._take_batch()
        except StopAsyncIteration:
            return None

    def _accept(self, batch: Any) -> None:
        self._items = batch

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if getattr(self, "_state", "closed") == "open":
            _warn(
                "an expys_stream.sync stream was never closed (use it with `with`)",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )


class MessageStream(_SyncStream[Message]):
    """A live stream of a conversation's new messages, as :class:`Message`.

    The blocking twin of :class:`expys_stream.MessageStream`: get one from
    :func:`expys_stream.sync.open_message_stream` or
    :meth:`expys_stream.sync.Client.open_message_stream` and use it with
    ``with``, then ``for``. Every message arrives once, in order, across
    reconnects. Use it from one thread (``close()`` may come from any).

    Attributes:
        last_event_id: the id of the last message you received (None before
            the first); persist it and pass it as ``last_event_id`` later to
            resume exactly after it.
        reconnects: how many times the stream reconnected.
    """

    __slots__ = ("_last", "_lasts")

    def __init__(self, astream: _AsyncMessageStream) -> None:
        super().__init__(astream)
        self._lasts: list[Any] = []  # per message of _items: the event it came from
        self._last: Any = None  # before the current batch

    @property
    def last_event_id(self) -> str | None:
        """The id of the last message returned to you, or None."""
        index = self._index
        if index and index <= len(self._lasts):
            return _id_of(self._lasts[index - 1])
        return _id_of(self._last)

    def _used_up(self) -> None:
        if self._lasts:
            self._last = self._lasts[-1]
            self._lasts = []
        super()._used_up()

    def _accept(self, batch: tuple[list[Message], list[Any]]) -> None:
        self._items, self._lasts = batch


class EventStream(_SyncStream[ServerSentEvent]):
    """A live stream of :class:`ServerSentEvent` from any SSE endpoint.

    The blocking twin of :class:`expys_stream.EventStream`: get one from
    :func:`expys_stream.sync.open_event_stream` and use it with ``with``,
    then ``for``::

        with open_event_stream(url, headers=headers) as stream:
            for event in stream:
                ...

    It reconnects by itself (full-jitter backoff, ``retry:`` and
    ``Retry-After`` as floors) and resumes with ``Last-Event-ID``. Leaving
    the block closes the connection and cancels any pending reconnect sleep.
    Errors surface from the ``for`` after every event received before them.
    """

    __slots__ = ("_last",)

    def __init__(self, astream: _AsyncEventStream) -> None:
        super().__init__(astream)
        self._last: ServerSentEvent | None = None

    @property
    def last_event_id(self) -> str | None:
        """The ID of the last event this stream returned to you (None before any)."""
        index = self._index
        if index and index <= len(self._items):
            return self._items[index - 1].id
        return None if self._last is None else self._last.id

    def _used_up(self) -> None:
        if self._items:
            self._last = self._items[-1]
        super()._used_up()


MessageStream.__module__ = "expys_stream.sync"
EventStream.__module__ = "expys_stream.sync"
