"""A minimal raw HTTP/2 client for the concierge's tests: h2 over an anyio socket.

One reader task feeds h2 and records, per stream, the head, the body bytes,
the end (END_STREAM or RST_STREAM and its code); for the connection, PING
ACKs, GOAWAY (after which the streams up to its last stream id go on, unlike
in h2 itself) and the server's SETTINGS. Every change sets an event, and
:meth:`RawH2.until` waits on it for a condition: no polling, no sleeps.

Flow control is in the test's hands: the connection window is opened wide
at the start (16 MiB), and a stream opened with ``ack=False`` never
acknowledges its body bytes, so its 64 KiB - 1 stream window fills and the
server must block that stream alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.events
import h2.settings
import msgspec

from expys_stream.sse import ServerSentEvent, SSEDecoder

CONNECTION_WINDOW = 16 * 2**20


@dataclass
class H2Response:
    stream_id: int
    ack: bool = True
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False  # END_STREAM
    reset_code: int | None = None  # RST_STREAM from the server

    @property
    def closed(self) -> bool:
        return self.ended or self.reset_code is not None

    def json(self) -> Any:
        return msgspec.json.decode(bytes(self.body))

    def events(self) -> list[ServerSentEvent]:
        return list(SSEDecoder().feed(bytes(self.body)))

    def messages(self) -> list[str]:
        """The ``body`` of every complete ``message`` event so far."""
        return [msgspec.json.decode(e.data)["body"] for e in self.events() if e.event == "message"]


class RawH2:
    """One HTTP/2 connection to the concierge, as a client."""

    def __init__(self, stream: anyio.abc.ByteStream, authority: str) -> None:
        self.socket = stream
        self.authority = authority
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.responses: dict[int, H2Response] = {}
        self.pings_acked = 0
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.settings_seen = False
        self.eof = False
        self._changed = anyio.Event()
        self._lock = anyio.Lock()

    async def start(self) -> None:
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            data = self.h2.data_to_send()
            if data:
                await self.socket.send(data)

    async def read_loop(self) -> None:
        while True:
            try:
                data = await self.socket.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                self.eof = True
                self._notify()
                return
            for event in self.h2.receive_data(data):
                self._dispatch(event)
            await self.flush()
            self._notify()

    def _dispatch(self, event: h2.events.Event) -> None:
        stream_id = getattr(event, "stream_id", None)
        response = self.responses.get(stream_id) if stream_id else None
        if isinstance(event, h2.events.ResponseReceived) and response is not None:
            fields = {bytes(k).decode(): bytes(v).decode() for k, v in event.headers or []}
            response.status = int(fields.pop(":status"))
            response.headers = fields
        elif isinstance(event, h2.events.DataReceived) and response is not None:
            response.body += event.data or b""
            if response.ack:
                self.h2.acknowledge_received_data(event.flow_controlled_length or 0, stream_id or 0)
        elif isinstance(event, h2.events.StreamEnded) and response is not None:
            response.ended = True
        elif isinstance(event, h2.events.StreamReset) and response is not None:
            response.reset_code = int(event.error_code or 0)
        elif isinstance(event, h2.events.PingAckReceived):
            self.pings_acked += 1
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_seen = True
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event
            # h2 treats a received GOAWAY as the end of everything and would
            # refuse the DATA that RFC 9113 section 6.8 lets streams up to the
            # last id go on with; put its state machine back to see the server's side.
            self.h2.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN

    def _notify(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds (bound it with ``anyio.fail_after``)."""
        while not condition():
            if self.eof:
                raise AssertionError("the connection ended before the condition held")
            await self._changed.wait()

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        ack: bool = True,
        end: bool = True,
    ) -> H2Response:
        """Open a stream with a request; ``end=False`` leaves the body to :meth:`send_body`."""
        stream_id = self.h2.get_next_available_stream_id()
        fields = [(":method", method), (":scheme", "http"), (":authority", self.authority)]
        fields.append((":path", path))
        if token is not None:
            fields.append(("authorization", f"Bearer {token}"))
        fields += list((headers or {}).items())
        response = H2Response(stream_id, ack=ack)
        self.responses[stream_id] = response
        encoded = [(k.encode(), v.encode()) for k, v in fields]
        self.h2.send_headers(stream_id, encoded, end_stream=end and not body)
        if body:
            self.h2.send_data(stream_id, body, end_stream=end)
        await self.flush()
        return response

    async def get(self, path: str, token: str | None = None, **kwargs: Any) -> H2Response:
        """A request, waited on until its response has ended (or was reset)."""
        response = await self.request("GET", path, token=token, **kwargs)
        await self.until(lambda: response.closed)
        return response

    async def reset(self, response: H2Response, error_code: int = 0x8) -> None:
        """RST_STREAM (default CANCEL) from the client."""
        self.h2.reset_stream(response.stream_id, error_code)
        await self.flush()

    async def ping(self) -> None:
        """Send a PING and wait for its ACK."""
        before = self.pings_acked
        self.h2.ping(b"12345678")
        await self.flush()
        await self.until(lambda: self.pings_acked > before)

    async def acknowledge(self, response: H2Response) -> None:
        """Give back a stream's whole window (for a stream opened with ``ack=False``)."""
        response.ack = True
        self.h2.increment_flow_control_window(len(response.body), stream_id=response.stream_id)
        await self.flush()


@asynccontextmanager
async def connect_h2(port: int, **tls: Any) -> AsyncIterator[RawH2]:
    """A started :class:`RawH2` to 127.0.0.1:``port`` (prior knowledge unless ``tls``)."""
    stream = await anyio.connect_tcp("127.0.0.1", port, **tls)
    client = RawH2(stream, f"127.0.0.1:{port}")
    async with stream, anyio.create_task_group() as task_group:
        await client.start()
        task_group.start_soon(client.read_loop)
        await client.until(lambda: client.settings_seen)
        yield client
        task_group.cancel_scope.cancel()
