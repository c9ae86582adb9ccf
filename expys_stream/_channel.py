"""The hand-off between a stream's reader task and its consumer.

One reader puts batches in, one consumer takes them out, through a buffer of
``size`` slots: when it is full the reader waits (and so stops reading the
socket), which is the whole backpressure story (docs/backpressure.md).

It does what ``anyio.create_memory_object_stream`` does for this one case,
with a fraction of its memory: a process may hold thousands of idle streams,
and an idle stream holds its channel for as long as it is open. The buffer
is a short list; a waiter exists only while a side waits. On asyncio the
waiter is a bare future of the loop, not an ``anyio.Event``: that one wraps
an ``asyncio.Event`` whose deque of waiters alone takes 760 bytes, and every
idle stream's consumer keeps one while it waits (docs/performance.md). On
other backends it is an ``anyio.Event``. The errors are anyio's:
``EndOfStream`` once the reader is done and the buffer empty,
``ClosedResourceError`` on a closed consumer side, ``BrokenResourceError``
for a reader whose consumer is gone.
"""

from __future__ import annotations

import asyncio
from typing import Generic, NamedTuple, TypeAlias, TypeVar

import anyio
from anyio.lowlevel import checkpoint

from ._loop import asyncio_loop

__all__ = ["Channel", "ChannelStatistics"]

_T = TypeVar("_T")

# What a waiting side awaits: a future on asyncio, an anyio.Event elsewhere.
_Waiter: TypeAlias = "asyncio.Future[None] | anyio.Event"


class ChannelStatistics(NamedTuple):
    """What a test or a debugger may want to see of a channel."""

    current_buffer_used: int
    max_buffer_size: int
    tasks_waiting_send: int
    tasks_waiting_receive: int


class Channel(Generic[_T]):
    """A bounded single-reader, single-consumer queue; see the module docstring."""

    __slots__ = ("_buffer", "_done", "_gone", "_loop", "_put_waiter", "_size", "_take_waiter")

    def __init__(self, size: int) -> None:
        self._size = size
        self._buffer: list[_T] = []
        self._done = False  # the reader will put nothing more
        self._gone = False  # the consumer side is closed
        self._loop = asyncio_loop()  # None: not on asyncio (waiters are anyio.Events)
        self._put_waiter: _Waiter | None = None  # done: there is room
        self._take_waiter: _Waiter | None = None  # done: there is an item

    async def put(self, item: _T) -> None:
        """Add ``item``, waiting while the buffer is full."""
        await checkpoint()
        while True:
            if self._gone:
                raise anyio.BrokenResourceError
            if self._done:
                raise anyio.ClosedResourceError
            if len(self._buffer) < self._size:
                self._buffer.append(item)
                _wake(self._take_waiter)
                self._take_waiter = None
                return
            waiter = self._put_waiter
            if waiter is None or _spent(waiter):
                waiter = self._put_waiter = self._waiter()
            if isinstance(waiter, asyncio.Future):
                await waiter
            else:
                await waiter.wait()

    async def take(self) -> _T:
        """The next item, waiting while there is none."""
        await checkpoint()
        while True:
            if self._gone:
                raise anyio.ClosedResourceError
            if self._buffer:
                item = self._buffer.pop(0)
                _wake(self._put_waiter)
                self._put_waiter = None
                return item
            if self._done:
                raise anyio.EndOfStream
            waiter = self._take_waiter
            if waiter is None or _spent(waiter):
                waiter = self._take_waiter = self._waiter()
            if isinstance(waiter, asyncio.Future):
                await waiter
            else:
                await waiter.wait()

    def _waiter(self) -> _Waiter:
        loop = self._loop
        return anyio.Event() if loop is None else loop.create_future()

    def close_put(self) -> None:
        """The reader is done: the consumer gets what is buffered, then the end."""
        self._done = True
        _wake(self._take_waiter)
        self._take_waiter = None

    def close_take(self) -> None:
        """The consumer is gone: drop the buffer; a waiting reader is told so."""
        self._gone = True
        self._buffer.clear()
        for waiter in (self._put_waiter, self._take_waiter):
            _wake(waiter)
        self._put_waiter = self._take_waiter = None

    def statistics(self) -> ChannelStatistics:
        """How full the buffer is and who waits (for tests)."""
        return ChannelStatistics(
            len(self._buffer),
            self._size,
            int(self._put_waiter is not None and not _spent(self._put_waiter)),
            int(self._take_waiter is not None and not _spent(self._take_waiter)),
        )


def _spent(waiter: _Waiter) -> bool:
    # A future the waiting side's cancellation cancelled: a new one is made.
    return isinstance(waiter, asyncio.Future) and waiter.done()


def _wake(waiter: _Waiter | None) -> None:
    if waiter is None:
        return
    if isinstance(waiter, asyncio.Future):
        if not waiter.done():  # (cancelled with the task that waited on it)
            waiter.set_result(None)
    else:
        waiter.set()
