"""One HTTP/2 stream as its consumer sees it: a pull-shaped buffer, no task.

The connection's reader (``_h2conn.H2Conn``) pushes the response head, DATA
and the end or failure of the stream into an :class:`H2Stream` through its
``_on_*`` methods, which never await. The consumer pulls with
:meth:`H2Stream.head` and :meth:`H2Stream.read`, and waits on one
:class:`~.._loop.Waiter` (a bare future on asyncio, the parked task on
trio), so an idle stream costs its slots and one parked waiter
(docs/http2-design.md, section 6).

Flow-controlled bytes are acknowledged when :meth:`read` hands them out, not
on arrival, so a consumer that does not read stops only its own stream once
the stream window is used up; the unread rest is acknowledged when the
stream is reset or closed.

No h2 import here: the connection does every h2 call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import ExpysError, ProtocolError, StreamClosed, TransportError
from .._loop import Waiter
from ._coding import content_coding, inflate_bounded

if TYPE_CHECKING:
    from ._h2conn import H2Conn

__all__ = ["H2Stream", "NotHTTP2", "RetryNow"]

Headers = list[tuple[bytes, bytes]]
MAX_ERROR_BODY = 64 * 1024  # as on HTTP/1.1

# States of a stream.
_OPEN = 0  # headers sent; head and DATA may come
_ENDED = 1  # END_STREAM received: the rest of the buffer, then b""
_FAILED = 2  # reset by the server, GOAWAY, or the connection failed
_RESET = 3  # reset or closed by us


class RetryNow(TransportError):
    """The server did not process this request (GOAWAY above its last
    stream id, REFUSED_STREAM, or no response head before a GOAWAY):
    repeating it at once on another connection is safe and needs no backoff.
    """


class NotHTTP2(TransportError):
    """The server answered the HTTP/2 preface in HTTP/1.x: it does not speak
    cleartext HTTP/2 (prior knowledge); the origin is for HTTP/1.1."""


class H2Stream:
    """The client side of one HTTP/2 request and its streamed response."""

    __slots__ = (
        "_activity",
        "_chunks",
        "_conn",
        "_error",
        "_headers",
        "_id",
        "_reset_code",
        "_state",
        "_status",
        "_unacked",
        "_waiter",
    )

    http_version = "HTTP/2"

    def __init__(self, conn: H2Conn, stream_id: int) -> None:
        self._conn = conn
        self._id = stream_id
        self._chunks: list[bytes] | None = None
        self._unacked = 0  # flow-controlled bytes received, not yet acknowledged
        self._waiter = Waiter(conn.loop)  # the stream's reader waits here for frames
        self._state = _OPEN
        self._error: ExpysError | None = None
        self._status = 0  # 0 until the response head is in
        self._headers: Headers | None = None
        self._activity = float("-inf")
        self._reset_code: int | None = None

    # -- what the consumer uses ----------------------------------------------

    @property
    def stream_id(self) -> int:
        """The HTTP/2 stream id."""
        return self._id

    @property
    def status(self) -> int:
        """The response status, or 0 before the head is in."""
        return self._status

    @property
    def headers(self) -> Headers:
        """The response headers (lower-case names, no pseudo-headers)."""
        return self._headers or []

    def forget_headers(self) -> None:
        """Drop the response headers (the body's reader needs none of them)."""
        self._headers = None

    @property
    def reset_code(self) -> int | None:
        """The error code of the server's RST_STREAM, if it reset the stream
        (the router acts on REFUSED_STREAM, ENHANCE_YOUR_CALM and
        HTTP_1_1_REQUIRED)."""
        return self._reset_code

    @property
    def unacked(self) -> int:
        """Flow-controlled bytes received and not yet acknowledged."""
        return self._unacked

    @property
    def is_open(self) -> bool:
        """Whether the stream can still receive (not ended, failed or reset)."""
        return self._state == _OPEN

    def activity(self) -> float:
        """When the last DATA frame of this stream arrived (anyio's clock)."""
        return self._activity

    def header(self, name: bytes) -> bytes | None:
        """The first value of response header ``name`` (lower-case), or None."""
        for key, value in self._headers or ():
            if key == name:
                return value
        return None

    @property
    def content_type(self) -> str:
        """The Content-Type, decoded leniently, or ""."""
        value = self.header(b"content-type")
        return "" if value is None else value.decode("latin-1")

    async def read_bounded(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """At most ``limit`` bytes of the body (decoded if gzip or deflate),
        then the stream is closed; as ``Response.read_bounded`` on HTTP/1.1.

        Raises:
            ProtocolError: a successful response in a coding the client
                cannot decode, or a corrupt one. (An error response's body
                in such a coding reads as ``b""``: its status still counts.)
        """
        try:
            try:
                coding = content_coding(self.header(b"content-encoding"))
            except ProtocolError:
                if 200 <= self._status < 300:
                    raise
                return b""
            parts: list[bytes] = []
            size = 0
            while size < limit and (part := await self.read()):
                parts.append(part)
                size += len(part)
            data = b"".join(parts)[:limit]
        finally:
            self.reset()
        return data if coding is None else inflate_bounded(coding, data, limit)

    async def head(self) -> tuple[int, Headers]:
        """Wait for the response head: ``(status, headers)``.

        Raises the stream's error if it failed first (a reset, a GOAWAY, the
        connection lost), or ``StreamClosed`` after :meth:`reset`. The
        caller's cancel scope is the timeout.
        """
        while not self._status:
            self._raise_if_done()
            await self._waiter.wait()
        return self._status, self.headers

    async def read(self) -> bytes:
        """The next payload (every chunk buffered, joined), ``b""`` at the end.

        Bytes received before a failure are all returned before the failure
        is raised. Acknowledges what it returns to the flow-control windows.
        """
        while True:
            chunks = self._chunks
            if chunks is not None:
                self._chunks = None
                taken = self._unacked
                self._unacked = 0
                if taken:
                    self._conn._acknowledge(self._id, taken)
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if self._state == _ENDED:
                return b""
            self._raise_if_done()
            await self._waiter.wait()

    def reset(self) -> None:
        """Stop the stream now: RST_STREAM(CANCEL) is queued, the unread
        bytes go back to the connection's window. Synchronous; never raises;
        a stream that ended or failed is only forgotten."""
        if self._state == _RESET:
            return
        was_open = self._state == _OPEN
        self._state = _RESET
        self._chunks = None
        taken = self._unacked
        self._unacked = 0
        self._conn._forget(self._id, taken, cancel=was_open)
        self._wake()

    async def aclose(self) -> None:
        """Close the stream (a reset unless it ended); never awaits the network."""
        self.reset()

    async def __aenter__(self) -> H2Stream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.reset()

    def __repr__(self) -> str:
        state = ("open", "ended", "failed", "reset")[self._state]
        return f"<H2Stream {self._id} {state} status={self._status}>"

    # -- what the connection's reader calls (synchronous) ----------------------

    def _on_head(self, status: int, headers: Headers) -> None:
        self._status = status
        self._headers = headers
        self._wake()

    def _on_data(self, data: bytes, flow_controlled: int, now: float) -> None:
        self._activity = now
        self._unacked += flow_controlled
        if data:
            if self._chunks is None:
                self._chunks = [data]
            else:
                self._chunks.append(data)
        elif flow_controlled:
            # Padding only: nothing for the consumer, credit it at once.
            self._unacked -= flow_controlled
            self._conn._acknowledge(self._id, flow_controlled)
        self._wake()

    def _on_end(self) -> None:
        if self._state == _OPEN:
            self._state = _ENDED
            self._wake()

    def _on_failure(self, error: ExpysError) -> None:
        """The stream failed; the buffered bytes are still delivered first."""
        if self._state == _OPEN:
            self._state = _FAILED
            self._error = error
            self._wake()

    def _take_unacked(self) -> int:
        taken = self._unacked
        self._unacked = 0
        return taken

    # -- internals ------------------------------------------------------------

    def _raise_if_done(self) -> None:
        if self._state == _FAILED and self._error is not None:
            raise self._error.with_traceback(None)
        if self._state == _RESET:
            raise StreamClosed("the HTTP/2 stream was closed")
        if self._state == _ENDED:
            raise TransportError(f"the stream ended before its response head ({self._conn.where})")

    def _wake(self) -> None:
        self._waiter.wake()
