"""One open ``/stream`` response: its subscription, queue and body writer.

Life of a stream (the server does steps 1-2 without an await in between, so
no message can slip between the replay snapshot and the subscription):

1. subscribe: a :class:`Subscriber` with its own bounded queue joins the
   conversation's fan-out set;
2. snapshot the replay (the messages after ``Last-Event-ID``) and set the
   subscriber's *floor*: live messages at or below it are skipped, so the
   replay and the live part neither overlap nor leave a gap;
3. :func:`run_stream` writes ``retry``, then the stream faults' first events,
   the replay, and the live queue, with a keepalive comment whenever the
   queue stays empty for ``keepalive`` seconds.

Every write is one HTTP chunk in one socket write, so each event is flushed
on its own. A subscriber whose queue fills up (a client too slow to read)
is cancelled rather than allowed to grow memory; the bound is
``max_queued_events`` events per stream, each of them a bytes object that
all subscribers share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._faults import StreamPlan
from ._store import StoredMessage
from ._wire import KEEPALIVE, retry_line

if TYPE_CHECKING:  # HTTP/1.1 or HTTP/2: whatever answers the request
    from ._service import Responder as HttpConnection

__all__ = ["Dropped", "Subscriber", "run_stream"]

# A queued item: the seq of a stored message (0 for anything else, which
# neither counts as a message event nor is subject to the floor) and the
# bytes to write.
_Item = tuple[int, bytes]


def _never() -> bool:
    return False


class Dropped(Exception):
    """A stream fault says: abort the connection now (``reset``: with a TCP RST)."""

    def __init__(self, *, reset: bool = False) -> None:
        super().__init__("reset" if reset else "closed")
        self.reset = reset


class Subscriber:
    """One open stream's place in its conversation's fan-out."""

    __slots__ = (
        "_ready",
        "_receive",
        "_send",
        "conversation_id",
        "ended_by",
        "floor",
        "peer_closed",
        "reset",
        "scope",
    )

    def __init__(self, conversation_id: str, max_queued: int) -> None:
        self.conversation_id = conversation_id
        self._send: MemoryObjectSendStream[_Item]
        self._receive: MemoryObjectReceiveStream[_Item]
        self._send, self._receive = anyio.create_memory_object_stream[_Item](max_queued)
        self._ready = anyio.Event()
        self.scope = anyio.CancelScope()
        self.floor = 0
        #: why the stream ended early: "overflow", "dropped", "finished", or None
        self.ended_by: str | None = None
        #: an abort resets the connection (TCP RST) instead of closing it
        self.reset = False
        #: asks the connection whether the client has closed its side
        self.peer_closed: Callable[[], bool] = _never

    @property
    def connected(self) -> bool:
        """Whether the client has not closed the connection (asked now)."""
        return not self.peer_closed()

    def offer(self, seq: int, data: bytes) -> None:
        """Queue an item without waiting; a full queue ends the stream."""
        if self.ended_by is not None:
            return
        try:
            self._send.send_nowait((seq, data))
        except anyio.WouldBlock:
            self.abort("overflow")
            return
        self._ready.set()

    def abort(self, reason: str, *, reset: bool = False) -> None:
        """End the stream now, without the chunked terminator (``reset``:
        with a TCP reset)."""
        self.ended_by = reason
        self.reset = reset
        self.scope.cancel()

    def finish(self) -> None:
        """End the stream cleanly after the item being written, if any."""
        if self.ended_by is None:
            self.ended_by = "finished"
            self._ready.set()

    async def next_item(self, idle: float) -> _Item | None:
        """The next queued item; None after ``idle`` seconds with none, or when finished.

        Waits on an event rather than in ``receive()``, because a receive
        cancelled by the idle timeout could lose an item just handed to it.
        """
        while self.ended_by is None:
            try:
                return self._receive.receive_nowait()
            except anyio.WouldBlock:
                pass
            self._ready = anyio.Event()
            with anyio.move_on_after(idle) as waited:
                await self._ready.wait()
            if waited.cancelled_caught:
                return None
        return None

    def close(self) -> None:
        self._send.close()
        self._receive.close()


class _BodyWriter:
    """Writes the body, applying ``drop_at_byte``, ``drop_after_events`` and ``trickle``."""

    def __init__(self, http: HttpConnection, plan: StreamPlan) -> None:
        self._http = http
        self._byte_limit = plan.drop_at_byte
        self._event_limit = plan.drop_after_events
        self._byte_reset = plan.reset_at_byte
        self._event_reset = plan.reset_after_events
        self._trickle = plan.trickle
        self._sent = 0
        self._events = 0

    async def write(self, data: bytes, *, message: bool = False) -> None:
        if self._byte_limit is not None and self._sent + len(data) >= self._byte_limit:
            await self._send(data[: self._byte_limit - self._sent])
            raise Dropped(reset=self._byte_reset)
        await self._send(data)
        if message:
            self._events += 1
        self.check_events()

    def check_events(self) -> None:
        if self._event_limit is not None and self._events >= self._event_limit:
            raise Dropped(reset=self._event_reset)

    async def _send(self, data: bytes) -> None:
        self._sent += len(data)
        if self._trickle:
            for i in range(len(data)):
                await self._http.send_chunk(data[i : i + 1])
        else:
            await self._http.send_chunk(data)


async def run_stream(
    http: HttpConnection,
    subscriber: Subscriber,
    *,
    plan: StreamPlan,
    replay: list[StoredMessage],
    retry_ms: int,
    keepalive: float,
) -> None:
    """Write the body of one stream until it ends; see the module docstring.

    Returns when the stream was finished cleanly (the caller then sends the
    chunked terminator). Raises :class:`Dropped` when a fault aborts it, and
    the transport's errors when the client went away.
    """
    writer = _BodyWriter(http, plan)
    await writer.write(retry_line(retry_ms))
    writer.check_events()
    if plan.stall is not None:
        await anyio.sleep(plan.stall)
    for event in plan.prefix:
        await writer.write(event)
    for stored in replay:
        await writer.write(stored.event, message=True)
    while True:
        item = await subscriber.next_item(keepalive)
        if subscriber.ended_by is not None:
            return
        if item is None:
            await writer.write(KEEPALIVE)
            continue
        seq, data = item
        if seq and seq <= subscriber.floor:
            continue
        await writer.write(data, message=seq > 0)
