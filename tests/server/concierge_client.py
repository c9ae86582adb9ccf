"""A small test client for the concierge: httpcore for HTTP, SSEDecoder for events.

Two views of a stream: :class:`Stream` reads through httpcore (what a real
client sees: chunks of body, decoded events, errors for truncated bodies),
:class:`RawStream` reads through an h11 client on a bare socket, to see the
HTTP chunk boundaries themselves.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import anyio
import anyio.abc
import h11
import httpcore
import msgspec

from expys_stream.sse import ServerSentEvent, SSEDecoder

#: What httpcore raises when a stream's connection dies before its end.
BROKEN = (httpcore.RemoteProtocolError, httpcore.ReadError)


def path_for(conversation_id: str, resource: str) -> str:
    return f"/v1/conversations/{quote(conversation_id, safe='')}/{resource}"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


def _headers(response: httpcore.Response) -> dict[str, str]:
    return {k.decode().lower(): v.decode("latin-1") for k, v in response.headers}


class Api:
    """Requests against one server through a shared connection pool."""

    def __init__(self, pool: httpcore.AsyncConnectionPool, base_url: str) -> None:
        self.pool = pool
        self.base_url = base_url

    def url(self, conversation_id: str, resource: str, query: str = "") -> str:
        return self.base_url + path_for(conversation_id, resource) + (f"?{query}" if query else "")

    async def request(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        response = await self.pool.request(method, url, headers=all_headers, content=body)
        return Reply(response.status, _headers(response), response.content)

    async def list(self, conversation_id: str, token: str, query: str = "") -> Reply:
        return await self.request("GET", self.url(conversation_id, "messages", query), token=token)

    async def send(
        self,
        conversation_id: str,
        token: str,
        body: object = "hello",
        *,
        key: str | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        content = raw if raw is not None else msgspec.json.encode({"body": body})
        url = self.url(conversation_id, "messages")
        return await self.request("POST", url, token=token, headers=headers, body=content)

    @asynccontextmanager
    async def stream(
        self,
        conversation_id: str,
        token: str | None,
        *,
        last_event_id: str | None = None,
        headers: dict[str, str] | None = None,
        max_event_size: int | None = None,
    ) -> AsyncIterator[Stream]:
        all_headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if last_event_id is not None:
            all_headers["Last-Event-ID"] = last_event_id
        all_headers.update(headers or {})
        url = self.url(conversation_id, "stream")
        async with self.pool.stream("GET", url, headers=all_headers) as response:
            stream = Stream(response, max_event_size)
            try:
                yield stream
            finally:
                await stream.aclose()


@dataclass
class Stream:
    """One open stream response, read on demand."""

    response: httpcore.Response
    max_event_size: int | None = None
    raw: bytearray = field(default_factory=bytearray)
    pending: list[ServerSentEvent] = field(default_factory=list)
    ended: bool = False
    started: bool = False

    def __post_init__(self) -> None:
        size = self.max_event_size
        self.decoder = SSEDecoder() if size is None else SSEDecoder(max_event_size=size)
        self._chunks = self.response.aiter_stream()

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def headers(self) -> dict[str, str]:
        return _headers(self.response)

    async def read_chunk(self) -> bytes | None:
        """The next piece of body, or None at a clean end (raises on a broken one)."""
        self.started = True
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            self.ended = True
            return None
        except BaseException:
            self.ended = True
            raise
        self.raw += chunk
        self.pending += self.decoder.feed(chunk)
        return chunk

    async def next_event(self) -> ServerSentEvent:
        while not self.pending:
            if await self.read_chunk() is None:
                raise AssertionError("the stream ended before another event")
        return self.pending.pop(0)

    async def read_events(self, n: int) -> list[ServerSentEvent]:
        return [await self.next_event() for _ in range(n)]

    async def read_until_raw(self, needle: bytes) -> None:
        while needle not in self.raw:
            if await self.read_chunk() is None:
                raise AssertionError(f"the stream ended before {needle!r}")

    async def read_to_end(self) -> None:
        while await self.read_chunk() is not None:
            pass

    async def aclose(self) -> None:
        """Close the response, and run httpcore's body generators to their end.

        Closing only the outermost generator would leave httpcore's nested
        ones suspended, and trio warns when it collects those; reading on
        from the closed connection makes them all finish (with an error).
        """
        await self.response.aclose()
        if self.started and not self.ended:
            with anyio.fail_after(5), contextlib.suppress(Exception):
                while True:
                    await self._chunks.__anext__()


class RawStream:
    """A stream request over a bare socket, parsed by an h11 client.

    ``chunks()`` gives the body exactly as HTTP chunks (one bytes per chunk).
    """

    def __init__(self, sock: anyio.abc.SocketStream) -> None:
        self.sock = sock
        self.conn = h11.Connection(h11.CLIENT)
        self.response: h11.Response | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls, port: int, target: str, headers: list[tuple[str, str]]
    ) -> AsyncIterator[RawStream]:
        async with await anyio.connect_tcp("127.0.0.1", port) as sock:
            raw = cls(sock)
            request = h11.Request(method="GET", target=target, headers=[("host", "x"), *headers])
            await sock.send(raw.conn.send(request) + raw.conn.send(h11.EndOfMessage()))
            event = await raw.next_event()
            assert isinstance(event, h11.Response), event
            raw.response = event
            yield raw

    async def next_event(self) -> h11.Event:
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await self.sock.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    data = b""
                self.conn.receive_data(data)
            else:
                assert isinstance(event, h11.Event)
                return event

    async def next_chunk(self) -> bytes | None:
        """The next whole HTTP chunk; None at the end of the body.

        Raises ``h11.RemoteProtocolError`` if the connection dies first.
        """
        parts = []
        while True:
            event = await self.next_event()
            if isinstance(event, h11.EndOfMessage):
                assert not parts
                return None
            assert isinstance(event, h11.Data), event
            parts.append(event.data)
            if event.chunk_end:
                return b"".join(parts)

    async def read_all(self) -> tuple[list[bytes], bool]:
        """Every remaining chunk, and whether the body ended properly (not cut off)."""
        chunks: list[bytes] = []
        try:
            while (chunk := await self.next_chunk()) is not None:
                chunks.append(chunk)
        except h11.RemoteProtocolError:
            return chunks, False
        return chunks, True
