"""One HTTP/2 connection on h2 and anyio (docs/http2-design.md, sections 7-12).

The connection owns its socket: :meth:`H2Conn.run`, started by the caller in
a task group that outlives every stream (the client's), reads it in its own
task and starts one writer task; nothing else touches the socket. Every h2
call happens in a synchronous section (the reader's dispatch, an opener's
``send_headers``, a consumer's acknowledgement, a reset), so no lock is
needed; the writer flushes ``data_to_send()`` whenever it is woken, which is
how PING ACKs made inside ``receive_data``, WINDOW_UPDATEs and RST_STREAMs
reach the network.

``run`` never raises an ``Exception``: a failure is mapped onto the
library's errors and delivered to every stream and waiting opener.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from collections.abc import Sequence
from typing import Any

import anyio
import h2.errors
import h2.events
import h2.exceptions
from anyio.abc import ByteStream, TaskGroup

from .._errors import ExpysError, ProtocolError, ReadTimeout, StreamClosed, TransportError
from .._loop import asyncio_loop
from ._errors_map import _QUOTED_BYTES, _describe
from ._h2stream import H2Stream, NotHTTP2, RetryNow
from ._h2wire import code_name, header_problem, new_client, response_head
from ._urls import _redact

__all__ = ["CONNECTION_WINDOW", "MAX_STREAMS_PER_CONNECTION", "STREAM_WINDOW", "H2Conn"]

STREAM_WINDOW = 128 * 1024
MAX_STREAMS_PER_CONNECTION = 256
CONNECTION_WINDOW = STREAM_WINDOW * MAX_STREAMS_PER_CONNECTION  # 32 MiB
PING_INTERVAL = 20.0  # seconds of silence before we send a PING (streams open)
PING_TIMEOUT = 10.0  # for anything to arrive after that PING
IDLE_EXPIRY = 30.0  # seconds without streams before the connection is closed
# After the server's GOAWAY: silence this long on the streams it still
# serves brings the PING at once. A server that goes away and stops
# serving without closing the socket (hypercorn 0.18 on asyncio) is then
# left within seconds, not after the 20 s + 10 s of a working connection.
DRAIN_PING_INTERVAL = 1.0
MAX_CLOSED_STREAMS = 4096  # h2 keeps 65,536 closed-stream records by default
READ_SIZE = 65536
_MAX_WINDOW = 2**31 - 1  # HTTP/2's largest flow-control window
_PROVISIONAL_LIMIT = 100  # the server's stream limit until its SETTINGS arrive

# States.
CONNECTING, READY, DRAINING, CLOSED = "connecting", "ready", "draining", "closed"


class H2Conn:
    """One HTTP/2 client connection: streams, flow control, PING, GOAWAY."""

    def __init__(
        self,
        sock: ByteStream,
        *,
        scheme: str,
        authority: str,
        url: str = "",
        max_streams: int = MAX_STREAMS_PER_CONNECTION,
        ping_interval: float = PING_INTERVAL,
        ping_timeout: float = PING_TIMEOUT,
        idle_expiry: float = IDLE_EXPIRY,
    ) -> None:
        if not 1 <= max_streams <= _MAX_WINDOW // STREAM_WINDOW:
            raise ValueError(f"max_streams must be from 1 to {_MAX_WINDOW // STREAM_WINDOW}")
        self._sock = sock
        self._scheme = scheme.encode("ascii")
        self._authority = authority.encode("ascii")
        self.where = _redact(url) if url else authority
        self.loop = asyncio_loop()  # its streams wait on bare futures of it (None: trio)
        self._max_streams = max_streams
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._idle_expiry = idle_expiry
        self.state = CONNECTING
        self.streams: dict[int, H2Stream] = {}
        self.pings_sent = 0
        self.pings_acked = 0
        self.goaway_last_stream_id: int | None = None
        self._error: ExpysError | None = None
        self._bodies: dict[int, memoryview] = {}
        self._wake = anyio.Event()
        self._ready = anyio.Event()
        self._done = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._stop = False  # close_now() before run() entered its scope
        self._closing = False  # GOAWAY queued: the writer stops after flushing
        self._ping_sent_at: float | None = None
        self._last_rx = self._last_used = anyio.current_time()
        self._h2 = new_client(STREAM_WINDOW, MAX_CLOSED_STREAMS)
        self._h2.initiate_connection()
        window = STREAM_WINDOW * max_streams
        self._h2.increment_flow_control_window(window - 65535)
        self._wake.set()  # the preface is waiting for the writer

    # -- the caller's view ------------------------------------------------------

    def limit(self) -> int:
        """How many streams may be open at once on this connection."""
        if self.state == CONNECTING:
            remote = _PROVISIONAL_LIMIT
        else:
            remote = self._h2.remote_settings.max_concurrent_streams
        return min(remote, self._max_streams)

    def has_room(self) -> bool:
        """Whether a new stream may be opened here now (or once READY)."""
        return self.state in (CONNECTING, READY) and len(self.streams) < self.limit()

    @property
    def open_streams(self) -> int:
        """Streams h2 still counts as open (ours and the server's view)."""
        return int(self._h2.open_outbound_streams)

    def connection_window(self) -> int:
        """Our inbound connection window plus the bytes processed but not yet
        returned to the server (the invariant of the design's section 8.1 is
        that this plus every open stream's ``unacked`` is the full window)."""
        manager = self._h2._inbound_flow_control_window_manager
        return int(self._h2.inbound_flow_control_window) + int(manager._bytes_processed)

    async def wait_ready(self) -> None:
        """Wait for the server's first SETTINGS (the caller's scope bounds it)."""
        await self._ready.wait()
        if self.state == CLOSED and self._error is not None:
            raise self._error.with_traceback(None)

    async def open_stream(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[bytes, bytes]] = (),
        body: bytes = b"",
    ) -> H2Stream:
        """Send a request; returns the stream at once (the head comes later).

        Raises ``RetryNow`` when this connection takes no new streams (GOAWAY,
        the limit, stream ids spent), ``ProtocolError`` for a header h2
        refuses, the connection's error when it failed.
        """
        if self.state == CONNECTING:
            await self.wait_ready()
        if self.state == CLOSED:
            raise (self._error or TransportError(f"connection to {self.where} is closed"))
        if not self.has_room():
            raise RetryNow(f"the HTTP/2 connection to {self.where} takes no new streams")
        try:
            stream_id = self._h2.get_next_available_stream_id()
        except h2.exceptions.NoAvailableStreamIDError:
            self._drain()
            raise RetryNow(f"stream ids on the connection to {self.where} ran out") from None
        problem = header_problem(headers)
        if not (method.isascii() and path.isascii()):
            problem = "the method and the path must be ASCII (an ascii_url)"
        if problem is not None:
            raise ProtocolError(f"invalid request to {self.where}: {problem}")
        request = [
            (b":method", method.encode("ascii")),
            (b":scheme", self._scheme),
            (b":authority", self._authority),
            (b":path", path.encode("ascii")),
            *((name.lower(), value) for name, value in headers),
        ]
        try:
            self._h2.send_headers(stream_id, request, end_stream=not body)
        except h2.exceptions.TooManyStreamsError:
            raise RetryNow(f"the HTTP/2 connection to {self.where} is full") from None
        except h2.exceptions.ProtocolError as exc:
            # h2 made the stream before refusing its headers: nothing was
            # sent, so drop it (an idle stream needs no RST_STREAM).
            self._h2.streams.pop(stream_id, None)
            reason = _QUOTED_BYTES.sub(" (not shown)", _describe(exc))
            raise ProtocolError(f"invalid request to {self.where}: {reason}") from None
        stream = H2Stream(self, stream_id)
        self.streams[stream_id] = stream
        self._last_used = anyio.current_time()
        if body:
            self._bodies[stream_id] = memoryview(body)
        self._flush_soon()
        return stream

    async def aclose(self) -> None:
        """Fail the streams with ``StreamClosed``, send GOAWAY, close (bounded)."""
        self._fail_all(StreamClosed("the HTTP/2 connection was closed"))
        if self.state != CLOSED:
            self.state = CLOSED
            self._closing = True
            self._h2.close_connection()
            self._flush_soon()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(0.5):
                await self._done.wait()
            self.close_now()
            with anyio.move_on_after(2.5):
                await self._done.wait()

    def close_now(self) -> None:
        """Cancel the reader and writer; ``run`` then closes the socket."""
        self._stop = True
        if self._scope is not None:
            self._scope.cancel()

    # -- the tasks ---------------------------------------------------------------

    async def run(self) -> None:
        """Read and write until closed or failed; run it in the caller's group."""
        try:
            with anyio.CancelScope() as self._scope:
                if self._stop:
                    self._scope.cancel()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._write_loop, tg)
                    await self._read_loop()
                    tg.cancel_scope.cancel()
        finally:
            self.state = CLOSED
            self._fail_all(self._error or TransportError(f"connection to {self.where} closed"))
            self._ready.set()
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(2):
                    await anyio.aclose_forcefully(self._sock)
                self._done.set()

    async def _read_loop(self) -> None:
        try:
            while True:
                with anyio.move_on_after(self._timer()):
                    data = await self._sock.receive(READ_SIZE)
                    if self.state == CONNECTING and data.startswith(b"HTTP/1."):
                        self._failed(NotHTTP2(f"{self.where} answered HTTP/2 in HTTP/1.x"))
                        return
                    self._on_bytes(data)
                    continue
                if self._on_silence():
                    return
        except anyio.EndOfStream:
            self._failed(TransportError(f"connection to {self.where} closed by the server"))
        except h2.exceptions.ProtocolError as exc:
            reason = _QUOTED_BYTES.sub(" (not shown)", _describe(exc))
            self._failed(ProtocolError(f"{self.where} broke HTTP/2: {reason}"))
            # h2 queued GOAWAY(PROTOCOL_ERROR): the writer sends it, then
            # ends the connection (bounded, the peer may not read).
            self._closing = True
            self._flush_soon()
            await anyio.sleep(0.5)
        except Exception as exc:
            self._failed(self._io_error(exc))

    async def _write_loop(self, tg: TaskGroup) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake = anyio.Event()
                # Read before taking the data: a GOAWAY queued while this
                # send is in progress sets the new event, and goes next time.
                closing = self._closing
                self._send_bodies()
                data = self._h2.data_to_send()
                if data:
                    await self._sock.send(data)
                if closing:
                    break
        except Exception as exc:
            self._failed(self._io_error(exc))
        tg.cancel_scope.cancel()

    # -- the reader's synchronous part -------------------------------------------

    def _on_bytes(self, data: bytes) -> None:
        now = self._last_rx = anyio.current_time()
        self._ping_sent_at = None  # anything arriving shows the peer is alive
        events = self._h2.receive_data(data)
        for event in events:
            self._dispatch(event, now)
        self._finish_if_drained()
        self._flush_soon()  # PING ACKs, SETTINGS ACKs, WINDOW_UPDATEs

    def _dispatch(self, event: h2.events.Event, now: float) -> None:
        match event:
            case h2.events.DataReceived(stream_id=sid, data=data):
                stream = self.streams.get(sid)
                length = event.flow_controlled_length or 0
                if stream is None:
                    if length:
                        self._acknowledge(sid, length)
                else:
                    stream._on_data(data or b"", length, now)
            case h2.events.ResponseReceived(stream_id=sid, headers=headers):
                stream = self.streams.get(sid)
                if stream is not None:
                    stream._on_head(*response_head(headers))
            case h2.events.StreamEnded(stream_id=sid):
                self._last_used = now
                stream = self.streams.pop(sid, None)
                self._bodies.pop(sid, None)
                if stream is not None:
                    stream._on_end()
            case h2.events.StreamReset(stream_id=sid, error_code=code):
                self._on_reset(sid, code)
            case h2.events.RemoteSettingsChanged():
                if self.state == CONNECTING:
                    self.state = READY
                    self._ready.set()
            case h2.events.ConnectionTerminated(error_code=code, last_stream_id=last):
                self._on_goaway(code, last)
            case h2.events.PingAckReceived():
                self.pings_acked += 1
            case h2.events.WindowUpdated():
                pass  # the writer resumes bodies on its next wake (below)

    def _on_reset(self, sid: int, code: Any) -> None:
        self._last_used = anyio.current_time()
        stream = self.streams.pop(sid, None)
        self._bodies.pop(sid, None)
        if stream is None:
            return
        self._return_window(sid, stream._take_unacked())
        name = code_name(code)
        stream._reset_code = int(code)
        if code == h2.errors.ErrorCodes.REFUSED_STREAM:
            error: ExpysError = RetryNow(f"{self.where} refused the stream (REFUSED_STREAM)")
        else:
            error = TransportError(f"stream reset by {self.where} ({name})")
        stream._on_failure(error)

    def _on_goaway(self, code: Any, last: int | None) -> None:
        self.goaway_last_stream_id = last
        self._drain()
        last_id = last if last is not None else 0
        graceful = code == h2.errors.ErrorCodes.NO_ERROR
        going = TransportError(f"{self.where} is going away ({code_name(code)})")
        for sid, stream in list(self.streams.items()):
            if sid > last_id or not stream.status:
                # Not processed, or no head yet: every request we make is
                # idempotent, so another connection may repeat it at once
                # (hypercorn never answers the stream its GOAWAY names).
                self._drop(sid, stream)
                stream._on_failure(RetryNow(f"{self.where} is going away (stream not served)"))
            elif not graceful:
                self._drop(sid, stream)
                stream._on_failure(going)
        if not graceful:
            self._error = going

    def _drop(self, sid: int, stream: H2Stream) -> None:
        self.streams.pop(sid, None)
        self._bodies.pop(sid, None)
        self._return_window(sid, stream._take_unacked())
        # No RST_STREAM: the server ignores frames for streams above its
        # last id, and hypercorn's h2 answers any frame after its GOAWAY
        # with GOAWAY(PROTOCOL_ERROR), which would end the served streams.
        # DATA that still comes for it is acknowledged at once (_dispatch).

    def _drain(self) -> None:
        if self.state in (CONNECTING, READY):
            self.state = DRAINING
            self._ready.set()

    def _finish_if_drained(self) -> None:
        """A draining connection with no stream left sends GOAWAY and closes
        (the writer ends the connection once it has flushed)."""
        if self.state == DRAINING and not self.streams and not self._closing:
            self._closing = True
            with contextlib.suppress(h2.exceptions.H2Error):  # closed already
                self._h2.close_connection()
            self._flush_soon()

    def _timer(self) -> float:
        if self._closing:
            return math.inf  # the writer ends the connection
        if self._ping_sent_at is not None:
            return max(0.0, self._ping_sent_at + self._ping_timeout - anyio.current_time())
        if not self.streams:
            return max(0.0, self._last_used + self._idle_expiry - anyio.current_time())
        interval = self._ping_interval
        if self.state == DRAINING:
            interval = min(interval, DRAIN_PING_INTERVAL)
        return max(0.0, self._last_rx + interval - anyio.current_time())

    def _on_silence(self) -> bool:
        """The read timer fired: send a PING, or give up on a silent peer."""
        if self._ping_sent_at is not None:
            self._failed(ReadTimeout(f"connection to {self.where} answered no PING in time"))
            return True
        if not self.streams:
            if anyio.current_time() >= self._last_used + self._idle_expiry:
                # Unused for IDLE_EXPIRY: GOAWAY(NO_ERROR), then closed.
                self._drain()
                self._finish_if_drained()
            return False
        if self.streams:
            self.pings_sent += 1
            self._h2.ping(self.pings_sent.to_bytes(8, "big"))
            self._ping_sent_at = anyio.current_time()
            self._flush_soon()
        return False

    # -- what streams call (synchronous) -------------------------------------------

    def _acknowledge(self, sid: int, length: int) -> None:
        self._return_window(sid, length)
        self._flush_soon()

    def _return_window(self, sid: int, length: int) -> None:
        if length and self.state != CLOSED:
            with contextlib.suppress(h2.exceptions.H2Error):  # closing: no window
                self._h2.acknowledge_received_data(length, sid)

    def _forget(self, sid: int, unacked: int, *, cancel: bool) -> None:
        self._last_used = anyio.current_time()
        stream = self.streams.pop(sid, None)
        self._bodies.pop(sid, None)
        self._return_window(sid, unacked)
        if cancel and stream is not None and self.state != CLOSED:
            with contextlib.suppress(h2.exceptions.H2Error):  # ended meanwhile
                self._h2.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        self._finish_if_drained()
        self._flush_soon()

    # -- internals -------------------------------------------------------------------

    def _flush_soon(self) -> None:
        self._wake.set()

    def _send_bodies(self) -> None:
        for sid, rest in list(self._bodies.items()):
            try:
                window = min(self._h2.local_flow_control_window(sid), len(rest))
                frame = self._h2.max_outbound_frame_size
                while window > 0:
                    size = min(window, frame)
                    chunk, rest = rest[:size], rest[size:]
                    self._h2.send_data(sid, chunk.tobytes(), end_stream=not rest)
                    window -= size
            except h2.exceptions.H2Error:
                rest = rest[:0]  # the stream closed meanwhile: nothing more to send
            if rest:
                self._bodies[sid] = rest
            else:
                del self._bodies[sid]

    def _failed(self, error: ExpysError) -> None:
        if self._error is None:
            self._error = error
        self.state = CLOSED  # no new stream from here on
        self._ready.set()
        self._fail_all(self._error)

    def _fail_all(self, error: ExpysError) -> None:
        streams = list(self.streams.values())
        self.streams.clear()
        self._bodies.clear()
        for stream in streams:
            stream._take_unacked()
            stream._on_failure(error)

    def _io_error(self, exc: Exception) -> ExpysError:
        if isinstance(exc, ExpysError):
            return exc
        kind = "TLS failed" if isinstance(exc, ssl.SSLError) else "failed"
        return TransportError(f"connection to {self.where} {kind}: {_describe(exc)}")
