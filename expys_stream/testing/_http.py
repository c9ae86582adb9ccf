"""One HTTP/1.1 server connection: h11 for the protocol, anyio for the bytes.

h11 does the parsing, the framing and the keep-alive bookkeeping; this
module only moves bytes between it and the socket and keeps the limits:
request heads up to :data:`MAX_HEAD_SIZE`, bodies up to
:data:`MAX_BODY_SIZE`. A response without ``Content-Length`` to an HTTP/1.1
client goes out chunked, one ``send_chunk`` call per HTTP chunk, each in
one socket write.
"""

from __future__ import annotations

import select
import socket
import struct
import sys
from dataclasses import dataclass
from email.utils import formatdate

import anyio
import anyio.abc
import h11

__all__ = ["MAX_BODY_SIZE", "MAX_HEAD_SIZE", "BodyTooLarge", "HttpConnection", "Request"]

#: The largest request line plus headers accepted (h11's own default).
MAX_HEAD_SIZE = 16 * 1024
#: The largest request body accepted; past it, 413 and close.
MAX_BODY_SIZE = 1024 * 1024
_READ_SIZE = 64 * 1024
_SERVER = "expys-concierge"
_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)


class BodyTooLarge(Exception):
    """The request body is larger than :data:`MAX_BODY_SIZE`."""


@dataclass(frozen=True, slots=True)
class Request:
    """A complete request as read off the wire."""

    method: str
    target: str
    headers: list[tuple[str, str]]  # lowercase names, in order
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        """The field's value (repeated fields joined with ``, ``), or None."""
        values = [value for key, value in self.headers if key == name]
        return ", ".join(values) if values else None

    def header_count(self, name: str) -> int:
        return sum(1 for key, _ in self.headers if key == name)


class HttpConnection:
    """The server side of one TCP connection."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_SIZE)

    async def next_request(self) -> Request | None:
        """Read the next complete request; None when the client closed.

        Raises:
            h11.RemoteProtocolError: the request is malformed.
            BodyTooLarge: the body is past :data:`MAX_BODY_SIZE`.
        """
        event = await self._next_event()
        if isinstance(event, h11.ConnectionClosed):
            return None
        if not isinstance(event, h11.Request):  # pragma: no cover - h11 guarantees it
            raise h11.RemoteProtocolError(f"unexpected {type(event).__name__}")
        if self.h11.they_are_waiting_for_100_continue:
            # RFC 9110 section 10.1.1: the client waits for this before the body.
            continue_ = h11.InformationalResponse(status_code=100, headers=[])
            await self.stream.send(self.h11.send(continue_) or b"")
        body = bytearray()
        while True:
            part = await self._next_event()
            if isinstance(part, h11.Data):
                body += part.data
                if len(body) > MAX_BODY_SIZE:
                    raise BodyTooLarge
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                raise h11.RemoteProtocolError("connection closed inside a request body")
        headers = [
            (name.decode("ascii").lower(), value.decode("latin-1")) for name, value in event.headers
        ]
        return Request(
            method=event.method.decode("ascii"),
            target=event.target.decode("ascii", "replace"),
            headers=headers,
            body=bytes(body),
        )

    async def _next_event(self) -> h11.Event:
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await self.stream.receive(_READ_SIZE)
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    data = b""
                self.h11.receive_data(data)
            elif isinstance(event, h11.Event):
                return event
            else:  # pragma: no cover - PAUSED: we never read past an unanswered request
                raise h11.RemoteProtocolError("request pipelined behind an unfinished one")

    @property
    def can_respond(self) -> bool:
        """Whether a response may still be started on this connection."""
        return self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE)

    async def send_response(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        *,
        head: bool = False,
        close: bool = False,
    ) -> None:
        """Send a complete response with a ``Content-Length``, in one write.

        ``head``: this answers a HEAD request, so the body is left out (the
        ``Content-Length`` still tells its size). ``close``: ask to close
        the connection afterwards.
        """
        all_headers = [*headers, *_common_headers()]
        bodiless = status == 204 or status == 304
        if not bodiless:
            all_headers.append(("content-length", str(len(body))))
        if close:
            all_headers.append(("connection", "close"))
        out = self.h11.send(h11.Response(status_code=status, headers=all_headers)) or b""
        if body and not head and not bodiless:
            out += self.h11.send(h11.Data(data=body)) or b""
        out += self.h11.send(h11.EndOfMessage()) or b""
        await self.stream.send(out)

    async def start_stream(self, status: int, headers: list[tuple[str, str]]) -> None:
        """Send the head of a response whose body follows in chunks."""
        response = h11.Response(status_code=status, headers=[*headers, *_common_headers()])
        await self.stream.send(self.h11.send(response) or b"")

    async def send_chunk(self, data: bytes) -> None:
        """Send ``data`` as one HTTP chunk, in one write."""
        if data:
            await self.stream.send(self.h11.send(h11.Data(data=data)) or b"")

    async def end_stream(self) -> None:
        """Send the end of a chunked body (the zero-length chunk)."""
        await self.stream.send(self.h11.send(h11.EndOfMessage()) or b"")

    def next_cycle(self) -> bool:
        """Get ready for the next request on this connection, if it can have one."""
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            return True
        return False

    def reset_on_close(self, error_code: int = 0) -> None:
        """Make the coming close a TCP reset (RST), as a crashed peer's would be.

        (``error_code`` is HTTP/2's, for the RST_STREAM; TCP has none.)

        SO_LINGER with a zero timeout makes the kernel drop unsent data and
        answer with RST instead of the FIN of an orderly close. A stream
        without a socket (in-memory, in tests) closes as usual.
        """
        sock = self.stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        if sock is not None:
            # struct linger: two ints, or two unsigned shorts on Windows.
            layout = "HH" if sys.platform == "win32" else "ii"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack(layout, 1, 0))

    def peer_closed(self) -> bool:
        """Whether the client has already closed its side (EOF or reset).

        Asks the socket itself, without reading from it (``MSG_PEEK``), so
        the answer is right at once: a task waiting in ``receive`` learns
        of the end only when the event loop next runs it. A client that
        closed its connection before this call (on loopback the end has
        reached this socket by the time its ``close`` returns) is seen as
        gone. A stream without a socket (in-memory) never is.
        """
        sock = self.stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        if sock is None:
            return False
        fd = sock.fileno()
        if fd < 0:
            return True
        # A second socket object on the same descriptor (asyncio's transport
        # socket has no recv), detached so that it never closes it.
        probe = socket.socket(fileno=fd)
        try:
            if _DONTWAIT:
                data = probe.recv(1, socket.MSG_PEEK | _DONTWAIT)
            else:  # pragma: no cover - Windows: select is fine with its handles
                if not select.select([probe], [], [], 0)[0]:
                    return False
                data = probe.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return False  # nothing to read: the client is still there
        except OSError:
            return True  # reset by the client
        finally:
            probe.detach()
        return not data

    async def wait_peer_gone(self) -> None:
        """Return once the client has closed its side (what it sends meanwhile is ignored)."""
        try:
            while await self.stream.receive():
                pass  # a stream's client has nothing more to say
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass

    async def aclose(self) -> None:
        """Close the socket at once (no goodbye, no chunked terminator)."""
        await anyio.aclose_forcefully(self.stream)


def _common_headers() -> list[tuple[str, str]]:
    return [("date", formatdate(usegmt=True)), ("server", _SERVER)]
