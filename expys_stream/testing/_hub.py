"""The fan-out: which streams are open, per conversation, and who waits on them.

Every change (a stream subscribed or gone) sets an event that waiters
re-check their condition on, so ``wait_for_streams`` and friends wake
exactly when the count changes, never by polling.

A stream counts as open while it is subscribed and its client has not
closed the connection. The second part is asked of each stream's socket
when counting (see ``HttpConnection.peer_closed``): the stream's own task
notices a client that went away only when the event loop next runs it,
and until then a count would include a stream the test has just closed,
so a message published next could go to it instead of the test's new one.
Counting stops early once the answer is known, so a wait among many
streams stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import anyio

from ._stream import Subscriber

__all__ = ["ConnectionInfo", "ConnectionRecord", "Hub"]


class _GoawayTarget(Protocol):
    async def goaway(self, last_stream_id: int | None, error_code: int) -> None: ...


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """One client connection as the server sees it; see ``ConciergeServer.connections()``.

    Attributes:
        id: the connection's number, from 1, in order of acceptance.
        protocol: ``"h2"`` or ``"http/1.1"``.
        tls: whether it came over TLS.
        streams_open: requests being answered now (HTTP/1.1: 0 or 1; a
            ``/stream`` request stays open as long as its stream).
        streams_total: requests (HTTP/2 streams) received so far.
        resets_received: RST_STREAM frames from the client (HTTP/2).
        resets_sent: RST_STREAM frames the server sent (injected resets).
        pings_received: PING frames from the client (each answered).
        bytes_received: request body bytes received (HTTP/2 DATA).
        reading: False while a ``stop_reading`` fault keeps the server off its socket.
        goaway_last_stream_id: the last stream id of the GOAWAY sent with
            ``ConciergeServer.goaway``, or None.
    """

    id: int
    protocol: Literal["h2", "http/1.1"]
    tls: bool
    streams_open: int
    streams_total: int
    resets_received: int
    resets_sent: int
    pings_received: int
    bytes_received: int
    reading: bool
    goaway_last_stream_id: int | None


ConnectionInfo.__module__ = "expys_stream.testing"


class ConnectionRecord:
    """The live counters behind a :class:`ConnectionInfo`."""

    def __init__(self, id: int, protocol: Literal["h2", "http/1.1"], *, tls: bool) -> None:  # noqa: A002
        self.id = id
        self.protocol: Literal["h2", "http/1.1"] = protocol
        self.tls = tls
        self.streams_open = 0
        self.streams_total = 0
        self.resets_received = 0
        self.resets_sent = 0
        self.pings_received = 0
        self.bytes_received = 0
        self.reading = True
        self.goaway_last_stream_id: int | None = None
        #: the HTTP/2 connection, which can send a GOAWAY
        self.handle: _GoawayTarget | None = None

    def info(self) -> ConnectionInfo:
        return ConnectionInfo(
            self.id,
            self.protocol,
            self.tls,
            self.streams_open,
            self.streams_total,
            self.resets_received,
            self.resets_sent,
            self.pings_received,
            self.bytes_received,
            self.reading,
            self.goaway_last_stream_id,
        )


class Hub:
    """The open streams of every conversation."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._open = 0
        self._changed: anyio.Event | None = None  # made in the server's loop
        #: the open connections, by id
        self.connections: dict[int, ConnectionRecord] = {}
        self._connection_ids = 0

    def open_connection(
        self, protocol: Literal["h2", "http/1.1"], *, tls: bool
    ) -> ConnectionRecord:
        self._connection_ids += 1
        record = ConnectionRecord(self._connection_ids, protocol, tls=tls)
        self.connections[record.id] = record
        return record

    def close_connection(self, record: ConnectionRecord) -> None:
        self.connections.pop(record.id, None)

    def start(self) -> None:
        """Call from the event loop that will run the server."""
        self._changed = anyio.Event()

    @property
    def open(self) -> int:
        return self.count(None)

    def count(self, conversation_id: str | None, *, stop_after: int | None = None) -> int:
        """Open streams (whose client is still connected), in one conversation or all.

        With ``stop_after``, counting stops once it is passed (the result is
        then ``stop_after + 1``).
        """
        counted = 0
        for subscriber in self._candidates(conversation_id):
            if subscriber.connected:
                counted += 1
                if stop_after is not None and counted > stop_after:
                    break
        return counted

    def _candidates(self, conversation_id: str | None) -> list[Subscriber]:
        if conversation_id is None:
            return [s for group in self._subscribers.values() for s in group]
        return list(self._subscribers.get(conversation_id, ()))

    def _subscribed(self, conversation_id: str | None) -> int:
        if conversation_id is None:
            return self._open
        return len(self._subscribers.get(conversation_id, ()))

    def current(self, conversation_id: str | None) -> list[Subscriber]:
        return self._candidates(conversation_id)

    def fan_out(self, conversation_id: str, seq: int, data: bytes) -> None:
        """Queue ``data`` for every open stream of the conversation, now."""
        for subscriber in list(self._subscribers.get(conversation_id, ())):
            subscriber.offer(seq, data)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.setdefault(subscriber.conversation_id, set()).add(subscriber)
        self._open += 1
        self._notify()

    def unsubscribe(self, subscriber: Subscriber) -> None:
        group = self._subscribers.get(subscriber.conversation_id)
        if group is not None and subscriber in group:
            group.discard(subscriber)
            if not group:
                del self._subscribers[subscriber.conversation_id]
            self._open -= 1
            self._notify()

    async def wait_until_count(self, n: int, conversation_id: str | None, *, exact: bool) -> None:
        """Until ``n`` streams are open (``exact``) or at least ``n`` are."""
        while not self._reached(n, conversation_id, exact=exact):
            await self._wait_change()

    def _reached(self, n: int, conversation_id: str | None, *, exact: bool) -> bool:
        if self._subscribed(conversation_id) < n:
            return False  # no socket to ask: too few are even subscribed
        counted = self.count(conversation_id, stop_after=n if exact else n - 1)
        return counted == n if exact else counted >= n

    async def wait_gone(self, subscribers: list[Subscriber]) -> None:
        """Until none of ``subscribers`` is subscribed any more."""
        while any(s in self._subscribers.get(s.conversation_id, ()) for s in subscribers):
            await self._wait_change()

    def _notify(self) -> None:
        if self._changed is not None:
            changed, self._changed = self._changed, anyio.Event()
            changed.set()

    async def _wait_change(self) -> None:
        if self._changed is None:
            raise RuntimeError("the server is not running")
        await self._changed.wait()
