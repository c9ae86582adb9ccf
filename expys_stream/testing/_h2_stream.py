"""One HTTP/2 stream as the service sees it: the responder of one request.

The service answers a request through a small set of methods (the
``Responder`` protocol of ``_service.py``); :class:`H2Stream` implements
them on one HTTP/2 stream, so the routes, credentials, statuses and SSE
bodies are the very code the HTTP/1.1 path runs. Differences that the
protocol imposes:

* ``send_chunk`` writes DATA frames within the stream's and the
  connection's send windows and the peer's largest frame size. With the
  window exhausted, only this stream waits (for a WINDOW_UPDATE); the other
  streams of the connection go on.
* No ``connection: close`` and no chunked framing: a response ends with
  END_STREAM. A response the service leaves unfinished (a drop fault, a
  dropped stream) ends with END_STREAM where it was cut, or with
  RST_STREAM once ``reset_on_close`` asked for it.
* A client's RST_STREAM (or the connection's end) makes every later write
  raise ``anyio.BrokenResourceError``, wakes a write that waits on the
  window and ends ``wait_peer_gone``, so that stream's producer stops at
  once.
"""

from __future__ import annotations

import struct
from email.utils import formatdate
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from ._http import Request

if TYPE_CHECKING:
    from ._h2 import H2Server

__all__ = ["INTERNAL_ERROR", "H2Stream", "no_h2_goaway"]

#: RST_STREAM / GOAWAY error code of an injected reset (RFC 9113 section 7).
INTERNAL_ERROR = 0x2
_SERVER = "expys-concierge"
_HTTP_1_1_REQUIRED = 0xD


def no_h2_goaway() -> bytes:
    """A GOAWAY(HTTP_1_1_REQUIRED) frame saying why, for a server without h2."""
    debug = b"this concierge serves HTTP/2 only with h2 installed: pip install expys-stream[http2]"
    payload = struct.pack(">II", 0, _HTTP_1_1_REQUIRED) + debug
    return struct.pack(">I", len(payload))[1:] + bytes([0x7, 0]) + struct.pack(">I", 0) + payload


class H2Stream:
    """The server side of one HTTP/2 stream, and its request as read so far."""

    def __init__(self, connection: H2Server, stream_id: int, request: Request) -> None:
        self._connection = connection
        self.stream_id = stream_id
        self.request = request
        self.body = bytearray()
        self.too_large = False
        self.headers_sent = False
        self.ended = False
        #: set by ``reset_on_close``: end an unfinished response with this RST_STREAM code
        self.reset_code: int | None = None
        #: the client reset this stream (or the connection is gone)
        self.gone = False
        self.blocked_on_window = False
        self.bytes_sent = 0
        self._gone_event = anyio.Event()
        self._window_event = anyio.Event()

    # -- driven by the connection -------------------------------------------------------

    def window_opened(self) -> None:
        """Wake a write that waits for the send window."""
        self._window_event.set()

    def mark_gone(self) -> None:
        """The client reset the stream, or the connection ended: stop writing."""
        self.gone = True
        self._gone_event.set()
        self._window_event.set()

    # -- the Responder protocol ---------------------------------------------------------

    @property
    def can_respond(self) -> bool:
        """Whether a response may still be started on this stream."""
        return not self.headers_sent and not self.gone

    async def send_response(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        *,
        head: bool = False,
        close: bool = False,
    ) -> None:
        """Send a complete response with a ``content-length`` (``close`` means nothing here)."""
        bodiless = status == 204 or status == 304
        fields = list(headers)
        if not bodiless:
            fields.append(("content-length", str(len(body))))
        with_body = bool(body) and not head and not bodiless
        await self._send_head(status, fields, end=not with_body)
        if with_body:
            await self.send_chunk(body)
            await self.end_stream()

    async def start_stream(self, status: int, headers: list[tuple[str, str]]) -> None:
        """Send the head of a response whose body follows in DATA frames."""
        await self._send_head(status, headers, end=False)

    async def send_chunk(self, data: bytes) -> None:
        """Send ``data`` in DATA frames, waiting for window where the client gives none."""
        connection = self._connection
        while data:
            await self._check_alive()
            window = connection.send_window(self.stream_id)
            if window <= 0:
                self.blocked_on_window = True
                self._window_event = anyio.Event()
                await self._window_event.wait()
                continue
            self.blocked_on_window = False
            piece, data = data[:window], data[window:]
            connection.h2.send_data(self.stream_id, piece)
            self.bytes_sent += len(piece)
            await connection.flush()

    async def end_stream(self) -> None:
        """End the response body (END_STREAM)."""
        await self._check_alive()
        self._connection.h2.end_stream(self.stream_id)
        self.ended = True
        await self._connection.flush()

    def reset_on_close(self, error_code: int = INTERNAL_ERROR) -> None:
        """End this stream with RST_STREAM(``error_code``) rather than END_STREAM."""
        self.reset_code = error_code

    def peer_closed(self) -> bool:
        """Whether the client has reset this stream or closed the connection."""
        return self.gone or self._connection.peer_closed()

    async def wait_peer_gone(self) -> None:
        """Return once the client has reset this stream or the connection ended."""
        await self._gone_event.wait()

    # -- helpers ---------------------------------------------------------------------------

    async def _check_alive(self) -> None:
        # Cancelled (a dropped stream): change no h2 state, as a cancelled
        # socket write on HTTP/1.1 would send nothing.
        await anyio.lowlevel.checkpoint_if_cancelled()
        if self.gone or self.ended or self._connection.closed:
            raise anyio.BrokenResourceError(f"HTTP/2 stream {self.stream_id} is closed")

    async def _send_head(self, status: int, headers: list[tuple[str, str]], *, end: bool) -> None:
        await self._check_alive()
        fields = [(":status", str(status))]
        fields += [(name.lower(), value) for name, value in headers]
        fields += [("date", formatdate(usegmt=True)), ("server", _SERVER)]
        encoded = [(name.encode("ascii"), value.encode("latin-1")) for name, value in fields]
        self._connection.h2.send_headers(self.stream_id, encoded, end_stream=end)
        self.headers_sent = True
        self.ended = end
        await self._connection.flush()
