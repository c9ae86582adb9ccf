"""The hand-off between a stream's reader task and its consumer.

One reader puts batches in, one consumer takes them out, through a buffer of
``size`` slots: when it is full the reader waits (and so stops reading the
socket), which is the whole backpressure story (docs/backpressure.md).

It does what ``anyio.create_memory_object_stream`` does for this one case,
with a fraction of its memory: a process may hold thousands of idle streams,
and an idle stream holds its channel for as long as it is open. The buffer
is a short list, and each side waits on a :class:`~._loop.Waiter` (a bare
future on asyncio, the parked task on trio) instead of an ``anyio.Event``,
which costs several times as much, and every idle stream's consumer keeps
one parked while it waits (docs/performance.md). The errors are anyio's:
``EndOfStream`` once the reader is done and the buffer empty,
``ClosedResourceError`` on a closed consumer side, ``BrokenResourceError``
for a reader whose consumer is gone.
"""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

import anyio
from anyio.lowlevel import checkpoint

from ._loop import Waiter, asyncio_loop

__all__ = ["Channel", "ChannelStatistics"]

_T = TypeVar("_T")


class ChannelStatistics(NamedTuple):
    """What a test or a debugger may want to see of a channel."""

    current_buffer_used: int
    max_buffer_size: int
    tasks_waiting_send: int
    tasks_waiting_receive: int


class Channel(Generic[_T]):
    """A bounded single-reader, single-consumer queue; see the module docstring."""

    __slots__ = ("_buffer", "_done", "_gone", "_items", "_room", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._buffer: list[_T] = []
        self._done = False  # the reader will put nothing more
        self._gone = False  # the consumer side is closed
        loop = asyncio_loop()  # None: not on asyncio
        self._room = Waiter(loop)  # the reader waits here while the buffer is full
        self._items = Waiter(loop)  # the consumer waits here while it is empty

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
                self._items.wake()
                return
            await self._room.wait()

    async def take(self) -> _T:
        """The next item, waiting while there is none."""
        await checkpoint()
        while True:
            if self._gone:
                raise anyio.ClosedResourceError
            if self._buffer:
                item = self._buffer.pop(0)
                self._room.wake()
                return item
            if self._done:
                raise anyio.EndOfStream
            await self._items.wait()

    def close_put(self) -> None:
        """The reader is done: the consumer gets what is buffered, then the end."""
        self._done = True
        self._items.wake()

    def close_take(self) -> None:
        """The consumer is gone: drop the buffer; a waiting reader is told so."""
        self._gone = True
        self._buffer.clear()
        self._room.wake()
        self._items.wake()

    def statistics(self) -> ChannelStatistics:
        """How full the buffer is and who waits (for tests)."""
        return ChannelStatistics(
            len(self._buffer), self._size, int(self._room.waiting), int(self._items.waiting)
        )
