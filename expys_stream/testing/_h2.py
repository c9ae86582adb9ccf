"""Serving one HTTP/2 connection: h2 for the protocol, anyio for the bytes.

A connection gets here in two ways: over TLS when ALPN picked ``h2``, or
in cleartext when its first 24 bytes are the HTTP/2 connection preface
(prior knowledge; see ``ConciergeServer``). One task (the connection's)
reads the socket and feeds h2; every complete request becomes an
:class:`~._h2_stream.H2Stream` and gets a task of its own, which runs the
same ``Service.serve_request`` as an HTTP/1.1 request does. Writes from
any task go through :meth:`H2Server.flush`, which takes h2's pending bytes
and sends them under one lock, so frames leave in the order h2 made them.

What the reader does besides dispatching requests: it acknowledges request
body bytes at once (unless the ``stop_acknowledging`` fault holds), wakes
the streams waiting for send window on WINDOW_UPDATE and SETTINGS, ends a
stream's producer on the client's RST_STREAM, and writes h2's PING ACKs.
Leaving (the client's EOF, a protocol error, the server closing) sends
GOAWAY and closes the socket.

h2 is imported here only, and this module only when a connection speaks
HTTP/2, so the concierge runs without h2 for HTTP/1.1.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import GoAwayFrame

from ._faults import ConnectionPlan
from ._h2_stream import H2Stream
from ._http import MAX_BODY_SIZE, HttpConnection, Request
from ._hub import ConnectionRecord
from ._wire import error_body

if TYPE_CHECKING:
    from ._service import Service

__all__ = ["H2Server"]

logger = logging.getLogger("expys_stream.testing")

_READ_SIZE = 64 * 1024
_SEND_TIMEOUT = 10.0  # seconds one socket write may take before the connection is given up
_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


class H2Server:
    """The server side of one HTTP/2 connection."""

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        service: Service,
        record: ConnectionRecord,
        *,
        max_concurrent_streams: int,
        plan: ConnectionPlan,
    ) -> None:
        self._stream = stream
        self._socket_probe = HttpConnection(stream)  # only for peer_closed
        self._service = service
        self._record = record
        self._plan = plan
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config)
        codes = h2.settings.SettingCodes
        self.h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                codes.MAX_CONCURRENT_STREAMS: max_concurrent_streams,
                codes.MAX_HEADER_LIST_SIZE: 64 * 1024,
            },
        )
        self._streams: dict[int, H2Stream] = {}
        self._lock = anyio.Lock()
        self._extra = b""  # frames h2 does not know about (our graceful GOAWAY)
        self._goaway_last: int | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self.closed = False
        record.handle = self

    # -- the connection's task ---------------------------------------------------------

    async def run(self, initial: bytes) -> None:
        """Serve the connection until it ends; ``initial``: bytes already read from it."""
        self.h2.initiate_connection()
        try:
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                with contextlib.suppress(*_GONE):  # the client went away
                    await self.flush()
                    data = initial
                    while not data or await self._receive(data):
                        if self._plan.stop_reading and self._record.streams_total > 0:
                            await self._pause_reading()
                        data = await self._stream.receive(_READ_SIZE)
                task_group.cancel_scope.cancel()
        finally:
            self._close_streams()
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await self._say_goodbye()
            await anyio.aclose_forcefully(self._stream)

    async def _pause_reading(self) -> None:
        seconds = self._plan.stop_reading_seconds
        self._plan.stop_reading = False
        self._record.reading = False
        try:
            if seconds is None:
                await anyio.sleep_forever()
            else:
                await anyio.sleep(seconds)
        finally:
            self._record.reading = True

    async def _receive(self, data: bytes) -> bool:
        """Feed h2 and act on its events; whether the connection goes on."""
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            logger.debug("concierge: HTTP/2 protocol error: %r", exc)
            await self.flush()  # h2 has queued its GOAWAY
            return False
        going_on = True
        try:
            for event in events:
                going_on = self._dispatch(event) and going_on
        except Exception:  # a bug here must end this connection, not the server
            logger.exception("concierge: error in an HTTP/2 connection")
            going_on = False
        await self.flush()
        return going_on

    def _dispatch(self, event: h2.events.Event) -> bool:
        if isinstance(event, h2.events.RequestReceived):
            self._open(event)
        elif isinstance(event, h2.events.DataReceived):
            self._data(event)
        elif isinstance(event, h2.events.StreamEnded):
            self._start(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self._record.resets_received += 1
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None:
                stream.mark_gone()
                self._forget(stream)  # closed now, though its task may still be ending
        elif isinstance(event, h2.events.WindowUpdated):
            if not event.stream_id:  # the connection's window: every stream may go on
                for stream in self._streams.values():
                    stream.window_opened()
            elif (stream := self._streams.get(event.stream_id)) is not None:
                stream.window_opened()
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            for stream in self._streams.values():
                stream.window_opened()
        elif isinstance(event, h2.events.PingReceived):
            self._record.pings_received += 1  # h2 has queued the ACK; _receive flushes it
        elif isinstance(event, h2.events.ConnectionTerminated):
            return False
        return True

    def _open(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id or 0
        if self._goaway_last is not None and stream_id > self._goaway_last:
            # Opened after our GOAWAY: ignored (RFC 9113 section 6.8), as the
            # client knows. Not refused: h2-based clients fail on a RST_STREAM
            # that arrives after the GOAWAY they have read.
            return
        self._record.streams_total += 1
        pseudo: dict[str, str] = {}
        headers: list[tuple[str, str]] = []
        for raw_name, raw_value in event.headers or []:
            name = bytes(raw_name).decode("ascii").lower()
            value = bytes(raw_value).decode("latin-1")
            if name.startswith(":"):
                pseudo[name] = value
            else:
                headers.append((name, value))
        if "host" not in dict(headers) and ":authority" in pseudo:
            headers.insert(0, ("host", pseudo[":authority"]))
        request = Request(pseudo.get(":method", ""), pseudo.get(":path", "/"), headers, b"")
        self._streams[stream_id] = H2Stream(self, stream_id, request)
        self._record.streams_open += 1

    def _data(self, event: h2.events.DataReceived) -> None:
        stream_id = event.stream_id or 0
        size = event.flow_controlled_length or 0
        self._record.bytes_received += len(event.data or b"")
        if not self._plan.stop_acknowledging:
            self.h2.acknowledge_received_data(size, stream_id)
        stream = self._streams.get(stream_id)
        if stream is not None and not stream.too_large:
            stream.body += event.data or b""
            if len(stream.body) > MAX_BODY_SIZE:
                stream.too_large = True
                stream.body.clear()

    def _start(self, stream_id: int | None) -> None:
        stream = self._streams.get(stream_id or 0)
        if stream is not None and self._task_group is not None:
            self._task_group.start_soon(self._serve_stream, stream)

    async def _serve_stream(self, stream: H2Stream) -> None:
        request = stream.request
        try:
            if stream.too_large:
                message = "the request body is too large"
                body = error_body(413, message)
                await stream.send_response(413, [("content-type", "application/json")], body)
            else:
                full = Request(request.method, request.target, request.headers, bytes(stream.body))
                stream.body.clear()
                await self._service.serve_request(stream, full, http_version="HTTP/2")
        except (*_GONE, h2.exceptions.StreamClosedError):
            pass  # reset by the client, or the connection is gone
        except Exception:  # a bug here must end this stream, not the server
            logger.exception("concierge: error on HTTP/2 stream %d", stream.stream_id)
            stream.reset_on_close()
        except anyio.get_cancelled_exc_class():
            stream.mark_gone()  # the connection is closing: cut, not ended
            raise
        finally:
            self._finish(stream)
            if not self.closed:
                with anyio.CancelScope(shield=True):
                    with contextlib.suppress(*_GONE):
                        await self.flush()

    def _finish(self, stream: H2Stream) -> None:
        """End what the service left unfinished, and forget the stream."""
        self._forget(stream)
        if stream.gone or self.closed or (stream.ended and stream.reset_code is None):
            return
        try:
            if stream.reset_code is not None:
                self.h2.reset_stream(stream.stream_id, stream.reset_code)
                self._record.resets_sent += 1
            else:
                self.h2.end_stream(stream.stream_id)
        except h2.exceptions.H2Error:
            pass  # the stream closed meanwhile

    def _forget(self, stream: H2Stream) -> None:
        if self._streams.pop(stream.stream_id, None) is not None:
            self._record.streams_open -= 1

    def _close_streams(self) -> None:
        self.closed = True
        for stream in list(self._streams.values()):
            stream.mark_gone()

    async def _say_goodbye(self) -> None:
        try:
            if self.h2.state_machine.state is not h2.connection.ConnectionState.CLOSED:
                self.h2.close_connection(last_stream_id=self.h2.highest_inbound_stream_id)
            await self._send_pending()
        except (*_GONE, h2.exceptions.H2Error):
            pass

    # -- used by the streams and the server -------------------------------------------------

    def send_window(self, stream_id: int) -> int:
        """How many bytes ``stream_id`` may send now in one DATA frame."""
        try:
            window = self.h2.local_flow_control_window(stream_id)
        except h2.exceptions.H2Error:
            raise anyio.BrokenResourceError(f"HTTP/2 stream {stream_id} is closed") from None
        return min(window, self.h2.max_outbound_frame_size)

    def peer_closed(self) -> bool:
        """Whether the client has closed the connection, asking the socket now.

        As on HTTP/1.1 (see ``HttpConnection.peer_closed``): a client that has
        just closed its connection stops counting at once in ``stream_count``,
        before the reader has seen the end.
        """
        return self.closed or self._socket_probe.peer_closed()

    async def flush(self) -> None:
        """Send whatever h2 has queued, in order with every other task's writes."""
        async with self._lock:
            await self._send_pending()

    async def _send_pending(self) -> None:
        data = self._extra + self.h2.data_to_send()
        self._extra = b""
        if not data:
            return
        # Shielded: bytes taken from h2 must reach the socket whole, or the
        # peer's HPACK table and flow-control books go out of step with ours
        # (a cancelled write may have sent part of them, or nothing).
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + _SEND_TIMEOUT
            await self._stream.send(data)
        if scope.cancelled_caught:  # the client reads nothing: give it up
            self.closed = True
            await anyio.aclose_forcefully(self._stream)
            raise anyio.BrokenResourceError("the client stopped reading")

    async def goaway(self, last_stream_id: int | None, error_code: int) -> None:
        """Send GOAWAY now; streams up to ``last_stream_id`` go on, later ones are ended.

        The frame is written beside h2 (which would refuse to send anything
        after its own GOAWAY), so the streams at or below the last id keep
        streaming until they end or the server closes.
        """
        if self.closed:
            return
        last = self.h2.highest_inbound_stream_id if last_stream_id is None else last_stream_id
        self._goaway_last = last
        self._record.goaway_last_stream_id = last
        frame = GoAwayFrame(0, last_stream_id=last, error_code=error_code)
        # h2's bytes queued so far go first; the lock keeps the rest in order.
        self._extra += self.h2.data_to_send() + frame.serialize()
        for stream in list(self._streams.values()):
            if stream.stream_id > last:
                stream.mark_gone()  # the client will retry it elsewhere
        await self.flush()
