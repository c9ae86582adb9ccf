"""A scripted HTTP/2 server peer over cleartext (prior knowledge) for the
cases hypercorn cannot be made to produce: a PING from the server, a GOAWAY
with a chosen last stream id, a server that goes silent, a reset, garbage.

The test drives it step by step: ``await peer.accept()``, then
``await peer.requests(n)``, ``peer.respond(...)``, ``await peer.flush()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import h2.config
import h2.connection
import h2.events
import h2.settings
from anyio.abc import SocketStream
from hyperframe.frame import GoAwayFrame


class Peer:
    def __init__(self, listener: anyio.abc.SocketListener, url: str) -> None:
        self.listener = listener
        self.url = url
        self.sock: SocketStream | None = None
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self.requests_seen: list[int] = []
        self.resets_seen: list[int] = []
        self.pings_acked = 0
        self.goaways: list[int] = []  # error codes of the client's GOAWAYs
        self.eof = False

    async def accept(self, *, settings: bool = True) -> None:
        """Take the client's connection; with ``settings``, answer its preface."""
        self.sock = await self.listener.accept()
        if settings:
            self.h2.initiate_connection()
            await self.flush()

    async def flush(self) -> None:
        assert self.sock is not None
        data = self.h2.data_to_send()
        if data:
            await self.sock.send(data)

    async def pump(self) -> None:
        """Read one batch of the client's bytes and process it."""
        assert self.sock is not None
        try:
            data = await self.sock.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            self.eof = True
            return
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                self.requests_seen.append(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.resets_seen.append(event.stream_id)
            elif isinstance(event, h2.events.PingAckReceived):
                self.pings_acked += 1
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaways.append(int(event.error_code or 0))
        await self.flush()

    async def requests(self, count: int) -> list[int]:
        while len(self.requests_seen) < count:
            await self.pump()
            assert not self.eof, "the client closed the connection"
        return self.requests_seen[:count]

    async def until_eof(self) -> None:
        while not self.eof:
            await self.pump()

    def respond(self, stream_id: int, body: bytes = b"", *, end: bool = False) -> None:
        headers = [(b":status", b"200"), (b"content-type", b"text/event-stream")]
        self.h2.send_headers(stream_id, headers)
        if body or end:
            self.h2.send_data(stream_id, body, end_stream=end)

    def goaway_frame(self, last_stream_id: int, error_code: int = 0) -> None:
        """Queue a GOAWAY without telling h2, so that it keeps serving the
        streams at or below ``last_stream_id`` (h2 would close everything)."""
        frame = GoAwayFrame(0)
        frame.last_stream_id = last_stream_id
        frame.error_code = error_code
        self.h2._data_to_send += frame.serialize()


@asynccontextmanager
async def serve_peer() -> AsyncIterator[Peer]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        peer = Peer(listener.listeners[0], f"http://127.0.0.1:{port}")
        try:
            yield peer
        finally:
            if peer.sock is not None:
                await anyio.aclose_forcefully(peer.sock)
