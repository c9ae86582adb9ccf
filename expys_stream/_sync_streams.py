"""Blocking streams: an async stream held open on the shared portal's loop.

Entering a sync stream starts one *host* task on the portal
(``expys_stream._portal``) that enters the async stream and then runs its
*pump*: the pump takes a whole batch (one socket read's worth of messages,
decoded) with the async stream's private ``_take_batch`` and puts it in a
hand-off queue, one batch ahead of the caller, and waits for a credit. The
caller's thread takes batches off the queue (usually without waiting: the
next one was decoded while it worked through this one), hands the items out
from a list, and gives a credit back with ``call_soon_threadsafe``, which
does not wait for the loop. Leaving the block stops the stream and sets the
host's event, so the async stream's own ``__aexit__`` (in the task that
entered it, as anyio requires) closes the connection and any reconnect
timer; the caller waits until that is done.
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
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


class _Failed:
    """An exception of the async stream, on its way to the caller's thread."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


_END = object()  # the pump is done: the iteration ends
_SLICE = 0.25  # the caller's longest single wait (see _portal.wait)


class _SyncStream(Generic[_T]):
    """What both sync streams share: the host task, the pump, the hand-off."""

    __slots__ = (
        "__weakref__",
        "_astream",
        "_closed",
        "_credits",
        "_done",
        "_finished",
        "_handoff",
        "_host",
        "_index",
        "_items",
        "_lease",
        "_lock",
        "_state",
        "_stopping",
        "_wake",
    )

    def __init__(self, astream: Any) -> None:
        self._astream = astream
        self._state = "new"  # new -> open -> closed (close()) or exited (the block)
        self._lock = threading.Lock()  # close() may come from another thread
        self._closed = threading.Event()  # set once the first close is done
        self._lease: _portal.Lease | None = None
        self._host: Future[None] | None = None
        # Batches (or _Failed, or _END) from the pump to the caller's thread.
        self._handoff: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._items: list[_T] = []  # the batch being handed out
        self._index = 0
        self._finished = False  # the caller took _END
        # Loop-thread state: batches the pump may take ahead of the caller.
        self._credits = 1
        self._wake: anyio.Event | None = None
        self._done: anyio.Event | None = None  # set: leave the block
        self._stopping = False  # _stop ran: the host must not wait

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
            first = self._state not in ("closed", "exited")
            if first or state == "exited":
                self._state = state
        if not first:
            # Closed, or being closed by another thread: done when it is.
            while self._lease is not None and not self._closed.wait(_SLICE):
                pass
            return
        self._items = []
        self._index = 0
        lease, host = self._lease, self._host
        self._host = None
        if lease is None:
            self._closed.set()
            return
        try:
            if host is not None and lease.valid:
                try:
                    _portal.call(lease.portal, self._stop)
                finally:
                    # The host's __aexit__: raises what closing raised.
                    _portal.wait(host)
        finally:
            self._lease = None
            self._closed.set()
            lease.release()

    # -- on the loop's thread ----------------------------------------------------

    async def _hold(self, entered: Future[None]) -> None:
        # The host task: the async stream lives inside this one task, and
        # its pump runs here until the stream ends or is stopped.
        try:
            async with self._astream:
                self._done = anyio.Event()
                entered.set_result(None)
                if not self._stopping:  # (close() came during the entry)
                    await self._pump()
                    await self._done.wait()
        except BaseException as exc:
            if entered.done():
                raise
            entered.set_exception(exc)  # raised by __enter__, once

    async def _pump(self) -> None:
        # Takes one batch ahead of the caller: while the caller works
        # through a batch, the next is decoded here. Each batch the caller
        # takes gives one credit back (_credit).
        put = self._handoff.put
        take = self._astream._take_batch
        try:
            while True:
                while not self._credits:
                    wake = self._wake = anyio.Event()
                    await wake.wait()
                self._credits -= 1
                try:
                    batch = await take()
                except StopAsyncIteration:
                    return
                except Exception as exc:  # raised in the caller's thread, in its place
                    put(_Failed(exc))
                else:
                    put(batch)
        finally:
            put(_END)

    def _credit(self) -> None:
        self._credits += 1
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    async def _stop(self) -> None:
        # aclose() first: the pump's take ends, so an iteration waiting in
        # another thread ends (StopIteration) instead of seeing StreamClosed.
        self._stopping = True
        await self._astream.aclose()
        if self._wake is not None:  # a pump waiting for credit goes on, to its end
            self._credit()
        if self._done is not None:
            self._done.set()

    # -- in the caller's thread ---------------------------------------------------

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
        # The next batch from the pump: usually ready, decoded meanwhile.
        lease = self._lease
        if self._state != "open" or lease is None or self._finished:
            if self._state == "closed" or self._finished:  # close() ends the iteration
                raise StopIteration
            raise StreamClosed("the stream is not open: use it inside `with`")
        _portal.check_thread()
        if not lease.valid:
            raise RuntimeError("this stream was opened before os.fork(): open a new one")
        self._used_up()  # an idle stream does not keep its last batch alive
        get = self._handoff.get
        try:
            while True:
                try:
                    item = get(timeout=_SLICE)
                    break
                except queue.Empty:
                    continue
        except BaseException:  # KeyboardInterrupt, SystemExit: stop, then go on
            self.close()
            raise
        if item is _END:
            self._finished = True
            raise StopIteration
        with suppress(RuntimeError):  # (a loop that close() in another thread stopped)
            lease.loop.call_soon_threadsafe(self._credit)
        if type(item) is _Failed:
            raise item.error
        self._accept(item)
        self._index = 1
        return self._items[0]

    def _used_up(self) -> None:
        self._items = []
        self._index = 0

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
    """A live stream of a conversation's new messages, as [`Message`][expys_stream.Message].

    The blocking twin of [`expys_stream.MessageStream`][expys_stream.MessageStream]:
    get one from
    [`expys_stream.sync.open_message_stream`][expys_stream.sync.open_message_stream]
    or [`Client.open_message_stream`][expys_stream.sync.Client.open_message_stream]
    and use it with ``with``, then ``for``. Every message arrives once, in order, across
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
    """A live stream of [`ServerSentEvent`][expys_stream.ServerSentEvent] from any SSE endpoint.

    The blocking twin of [`expys_stream.EventStream`][expys_stream.EventStream]:
    get one from
    [`expys_stream.sync.open_event_stream`][expys_stream.sync.open_event_stream]
    and use it with ``with``, then ``for``:

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
