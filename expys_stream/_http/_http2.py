"""The HTTP/2 edge: a pool of ``H2Conn`` connections per origin
(docs/http2-design.md, sections 5 and 10).

:class:`H2Edge` implements ``_base.Edge``. Selection is synchronous: a
request takes a slot on the first connection to its origin with room (its
stream limit is ``min(server's MAX_CONCURRENT_STREAMS, 256)``, 100 until
the server's SETTINGS arrive), or starts a new connection with the slot
already taken, so a burst of 1,000 opens makes ceil(1000 / limit)
connections, not 1,000. Connections are made and run in the task group
given to :meth:`H2Edge.bind` (the client's), so a connection outlives the
stream that caused it and a cancelled opener cancels nothing shared.

An origin whose server does not speak HTTP/2 (ALPN chose ``http/1.1`` or
none; a cleartext server answered the preface in HTTP/1.x; a stream reset
with HTTP_1_1_REQUIRED) is remembered for the client's lifetime, and
:meth:`H2Edge.send` returns None for it: the router sends it over HTTP/1.1.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Iterator

import anyio
from anyio.abc import TaskGroup

from .._errors import ConnectError, ExpysError, StreamClosed, TransportError
from ._base import NOT_ENTERED, Headers
from ._coding import DecodedBody, content_coding
from ._errors_map import _describe, head_timeout_error, read_timeout_error
from ._h2conn import CLOSED, CONNECTING, READY, H2Conn
from ._h2dial import connect_h2
from ._h2stream import MAX_ERROR_BODY, H2Stream, RetryNow
from ._urls import _redact, origin_of

__all__ = ["H2Body", "H2Edge", "H2Response"]

#: RST_STREAM's HTTP_1_1_REQUIRED (RFC 9113, 7).
_HTTP_1_1_REQUIRED = 0xD
#: Requests the pool sends again at once after RetryNow (not processed).
_RETRIES_NOW = 2
#: The stream limit assumed before the server's SETTINGS arrive.
_PROVISIONAL_LIMIT = 100

Origin = tuple[str, str, int]


class H2Response:
    """An HTTP/2 response whose head is in (an ``Exchange``)."""

    __slots__ = ("_stream", "headers", "status", "url")

    http_version = "HTTP/2"

    def __init__(self, stream: H2Stream, url: str) -> None:
        self._stream = stream
        self.status = stream.status
        self.headers = stream.headers
        self.url = url

    @property
    def stream_id(self) -> int:
        """The HTTP/2 stream id."""
        return self._stream.stream_id

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header (``name`` in lower case), or None."""
        return self._stream.header(name)

    @property
    def content_type(self) -> str:
        """The Content-Type, decoded leniently, or ""."""
        return self._stream.content_type

    async def read_bounded(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """At most ``limit`` bytes of the body (decoded), then the stream is closed."""
        return await self._stream.read_bounded(limit)

    def open_body(
        self, read_timeout: float | None, scope: anyio.CancelScope, *, bulk: bool = True
    ) -> H2Body | DecodedBody:
        """The reader of the payload, its content coding undone.

        The response headers are dropped here: they were checked and
        reported (``Connected``) before the body is opened, and an idle
        stream would keep them for its whole life (a quarter of a KiB).
        """
        coding = content_coding(self.header(b"content-encoding"))
        self.headers = []
        self._stream.forget_headers()
        body = H2Body(self._stream, self.url, read_timeout, scope)
        return body if coding is None else DecodedBody(body, coding)

    async def aclose(self) -> None:
        """Reset the stream unless it ended (awaits no network, never raises)."""
        self._stream.reset()

    def __repr__(self) -> str:
        return f"<H2Response {self.status} stream={self._stream.stream_id}>"


class H2Body:
    """One HTTP/2 stream's payload, read under the stream's own scope.

    The read timeout is this stream's watchdog alone: the deadline of the
    caller's scope while ``read`` waits, as on HTTP/1.1. When it passes,
    only this stream is reset; the connection and its other streams go on
    (its own liveness is the PING's job).
    """

    __slots__ = ("_scope", "_stream", "_timeout", "_url")

    bulk = True

    def __init__(
        self, stream: H2Stream, url: str, read_timeout: float | None, scope: anyio.CancelScope
    ) -> None:
        self._stream = stream
        self._url = url
        self._timeout = read_timeout
        self._scope = scope

    async def read(self) -> bytes:
        """The next payload (every buffered DATA frame joined); ``b""`` at the end."""
        scope = self._scope
        if self._timeout is not None:
            scope.deadline = anyio.current_time() + self._timeout
        try:
            data = await self._stream.read()
        finally:
            scope.deadline = math.inf
        if scope.cancel_called:
            raise read_timeout_error(self._url)
        return data

    async def aclose(self) -> None:
        """Reset the stream unless it ended (synchronous underneath)."""
        self._stream.reset()


class _Slot:
    """A connection of the pool, from before its socket exists."""

    __slots__ = ("conn", "done", "error", "http11", "reserved")

    def __init__(self) -> None:
        self.conn: H2Conn | None = None
        self.done = anyio.Event()  # connected, failed, or found to be HTTP/1.1
        self.error: ExpysError | None = None
        self.http11 = False
        self.reserved = 0  # openers holding a slot who have not sent HEADERS yet

    def usable(self) -> bool:
        conn = self.conn
        if conn is None:
            return not self.done.is_set()
        return conn.state in (CONNECTING, READY)

    def has_room(self, cap: int) -> bool:
        conn = self.conn
        if conn is None:
            return not self.done.is_set() and self.reserved < min(_PROVISIONAL_LIMIT, cap)
        return conn.has_room() and len(conn.streams) + self.reserved < conn.limit()


class H2Edge:
    """HTTP/2 connections by origin, run in the client's task group."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None,
        connect_timeout: float | None,
        head_timeout: float | None,
        max_streams: int | None = None,
    ) -> None:
        from ._h2conn import MAX_STREAMS_PER_CONNECTION

        self._ssl_context = ssl_context
        self._connect_timeout = connect_timeout
        self._head_timeout = head_timeout
        self._max_streams = max_streams or MAX_STREAMS_PER_CONNECTION
        self._slots: dict[Origin, list[_Slot]] = {}
        self._http11: set[Origin] = set()
        self._tg: TaskGroup | None = None
        self._closed = False

    @property
    def entered(self) -> bool:
        """Whether a task group hosts the connections (the client is entered)."""
        return self._tg is not None

    def bind(self, tg: TaskGroup | None) -> None:
        """Host the connections in ``tg`` (None: unbound again)."""
        self._tg = tg

    def connections(self) -> list[H2Conn]:
        """The live connections, in creation order per origin."""
        return [slot.conn for slot in self._all_slots() if slot.conn is not None]

    def _all_slots(self) -> Iterator[_Slot]:
        for slots in self._slots.values():
            yield from slots

    async def send(
        self,
        method: str,
        url: str,
        fields: Headers,
        body: bytes,
        read_timeout: float | None,
    ) -> H2Response | None:
        """Send one request on a connection to ``url``'s origin; its head.

        None when the origin speaks only HTTP/1.1. A request the server did
        not process (GOAWAY, REFUSED_STREAM) is sent again at once.
        """
        if self._closed:
            raise StreamClosed("the client is closed")
        if self._tg is None:
            raise RuntimeError(NOT_ENTERED)
        origin = origin_of(url)
        path = _path_of(url)
        fields = [(name, value) for name, value in fields if name.lower() != b"host"]
        if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            fields.append((b"content-length", str(len(body)).encode("ascii")))
        retried: RetryNow | None = None
        for _attempt in range(_RETRIES_NOW + 1):
            if origin in self._http11:
                return None
            try:
                stream = await self._open_stream(origin, url, method, path, fields, body)
            except RetryNow as exc:
                retried = exc
                continue
            if stream is None:
                return None
            try:
                await self._head(stream, url, read_timeout)
            except RetryNow as exc:
                stream.reset()
                retried = exc
                continue
            except TransportError:
                stream.reset()
                if stream.reset_code == _HTTP_1_1_REQUIRED:
                    self._http11.add(origin)
                    return None
                raise
            except BaseException:
                stream.reset()
                raise
            return H2Response(stream, url)
        assert retried is not None
        raise TransportError(str(retried))

    async def _open_stream(
        self, origin: Origin, url: str, method: str, path: str, fields: Headers, body: bytes
    ) -> H2Stream | None:
        slot = self._select(origin, url)
        slot.reserved += 1
        try:
            if not slot.done.is_set():
                await slot.done.wait()  # the connecting task is bounded itself
            if slot.http11:
                self._http11.add(origin)
                return None
            if slot.conn is None:
                assert slot.error is not None
                raise slot.error.with_traceback(None)
            return await slot.conn.open_stream(method, path, fields, body)
        finally:
            slot.reserved -= 1

    async def _head(self, stream: H2Stream, url: str, read_timeout: float | None) -> None:
        limit = self._head_timeout if self._head_timeout is not None else read_timeout
        with anyio.move_on_after(math.inf if limit is None else limit) as scope:
            await stream.head()
        if scope.cancelled_caught:
            assert limit is not None
            raise head_timeout_error(url, limit)

    def _select(self, origin: Origin, url: str) -> _Slot:
        slots = self._slots.get(origin)
        if slots is None:
            slots = self._slots[origin] = []
        else:
            slots[:] = [slot for slot in slots if slot.usable() or _busy(slot)]
        for slot in slots:
            if slot.usable() and slot.has_room(self._max_streams):
                return slot
        slot = _Slot()
        slots.append(slot)
        assert self._tg is not None
        self._tg.start_soon(self._connect, slot, url, name="expys_stream h2 connect")
        return slot

    async def _connect(self, slot: _Slot, url: str) -> None:
        limit = self._connect_timeout
        try:
            with anyio.move_on_after(math.inf if limit is None else limit) as scope:
                assert self._tg is not None
                conn = await connect_h2(
                    self._tg, url, ssl_context=self._ssl_context, max_streams=self._max_streams
                )
                if conn is None:
                    slot.http11 = True
                else:
                    slot.conn = conn
            if scope.cancelled_caught:
                slot.error = ConnectError(f"cannot connect to {_redact(url)}: timed out")
        except ExpysError as exc:
            slot.error = exc
        except Exception as exc:  # nothing foreign reaches a stream
            slot.error = TransportError(f"connection to {_redact(url)} failed: {_describe(exc)}")
        finally:
            if self._closed and slot.conn is not None:
                slot.conn.close_now()
            slot.done.set()

    async def aclose(self) -> None:
        """Close every connection: streams fail with StreamClosed, GOAWAY is
        sent, the sockets are closed (bounded, shielded)."""
        if self._closed:
            return
        self._closed = True
        slots = list(self._all_slots())
        self._slots.clear()
        for slot in slots:
            if slot.error is None and slot.conn is None:
                slot.error = StreamClosed("the client was closed")
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tg:
                for slot in slots:
                    if slot.conn is not None and slot.conn.state != CLOSED:
                        tg.start_soon(slot.conn.aclose)


def _busy(slot: _Slot) -> bool:
    # A draining connection still serving streams stays listed.
    conn = slot.conn
    return conn is not None and conn.state != CLOSED and bool(conn.streams)


def _path_of(url: str) -> str:
    # The request target: everything after the authority ("/" at least).
    rest = url.split("://", 1)[1]
    slash = rest.find("/")
    query = rest.find("?")
    if slash == -1 or (query != -1 and query < slash):
        return "/" + rest[query:] if query != -1 else "/"
    return rest[slash:].split("#", 1)[0]
