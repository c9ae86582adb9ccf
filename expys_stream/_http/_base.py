"""The one small interface between the event stream and the HTTP edges.

Two edges implement it: ``_http11`` (HTTP/1.1 over httpcore, the default)
and ``_http2`` (our own HTTP/2 on h2, with ``http2=True``). ``_router``'s
``Transport`` sits above them: it follows redirects, picks the edge for
each hop and is what the streams and the client talk to. What they use of
a response is :class:`Exchange`, and of its body :class:`Body`; nothing
above the router knows which protocol carried it.
"""

from __future__ import annotations

from typing import Protocol

import anyio

__all__ = ["NOT_ENTERED", "Body", "Edge", "Exchange", "Headers"]

Headers = list[tuple[bytes, bytes]]

# The error of an HTTP/2 request or stream from a client that was not entered.
NOT_ENTERED = (
    "a client with http2=True must be used as 'async with Client(...)': "
    "its HTTP/2 connections live in the task group that block provides"
)


class Body(Protocol):
    """A streaming response's payload, read piece by piece."""

    @property
    def bulk(self) -> bool:
        """Whether the payload is read without a library iterator in between."""
        ...

    async def read(self) -> bytes:
        """The next piece of payload; ``b""`` at the end.

        Raises ``ReadTimeout``, ``TransportError`` or ``ProtocolError``
        (library errors only). While it waits, the deadline of the scope
        given to :meth:`Exchange.open_body` is the read timeout.
        """
        ...

    async def aclose(self) -> None:
        """Release what the body holds (idempotent, never raises)."""
        ...


class Exchange(Protocol):
    """A response whose head is in and whose body is still to be read."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Headers: ...

    @property
    def url(self) -> str: ...

    @property
    def http_version(self) -> str:
        """``"HTTP/1.1"`` (or ``"HTTP/1.0"``) or ``"HTTP/2"``."""
        ...

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header (``name`` in lower case), or None."""
        ...

    @property
    def content_type(self) -> str:
        """The Content-Type, decoded leniently, or ""."""
        ...

    async def read_bounded(self, limit: int = ...) -> bytes:
        """At most ``limit`` bytes of the body (decoded), then the exchange is closed."""
        ...

    def open_body(
        self, read_timeout: float | None, scope: anyio.CancelScope, *, bulk: bool
    ) -> Body:
        """The reader of a stream response's payload, its content coding undone.

        Raises ``ProtocolError`` for a content coding the client cannot decode.
        """
        ...

    async def aclose(self) -> None:
        """Close the response (idempotent, bounded in time, never raises).

        On HTTP/1.1 this closes the connection (a stream holds it alone);
        on HTTP/2 it resets the stream only, and awaits no network.
        """
        ...


class Edge(Protocol):
    """One protocol's way to send a request and get its response head."""

    async def send(
        self,
        method: str,
        url: str,
        fields: Headers,
        body: bytes,
        read_timeout: float | None,
    ) -> Exchange | None:
        """Send one request (no redirect followed); None when this edge
        cannot serve ``url``'s origin and the next one should (an HTTP/2
        edge whose server speaks only HTTP/1.1).

        ``fields`` are the header fields without ``Host`` and framing
        fields: the edge adds what its protocol needs.
        """
        ...

    async def aclose(self) -> None:
        """Close every connection the edge made (idempotent, bounded)."""
        ...
