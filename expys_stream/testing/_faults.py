"""Fault injection: armed by tests, consumed by the next matching request.

Two kinds of fault, and the rules that combine them:

* A *reply* fault (``fail_next``, ``wrong_content_type``, ``no_content``,
  ``redirect``, ``internal_error``) replaces the whole response. It is checked as soon as a
  request is routed, before authentication, the way a proxy or a load
  balancer in front of the service would answer. Armed reply faults are
  tried in the order they were armed; the first that matches the request's
  endpoint (and conversation, when filtered) answers, and one use is
  consumed from it.
* A *stream* fault (every other one) changes the body of a stream that got
  its 200. The next stream that passes authentication takes, of each kind,
  the oldest armed fault that matches its conversation; faults of different
  kinds therefore combine (``trickle()`` with ``drop_at_byte(100)`` gives a
  stream written one byte per chunk that dies after 100 bytes), and two of
  the same kind go to two successive streams. Events sent "first"
  (``invalid_utf8``, ``oversized_event``, ``invalid_message``) go out in the
  order they were armed, right after the ``retry`` line (and after a stall).
* A *connection* fault (``stop_reading``, ``stop_acknowledging``) is taken
  by the next HTTP/2 connection, whole: every armed one applies to it.

``Faults`` is thread-safe: a test may arm faults from any thread while the
server runs in another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from expys_stream.sse import encode_event

from .._backoff import is_seconds
from ._wire import error_body

__all__ = ["CannedReply", "ConnectionPlan", "Endpoint", "Faults", "StreamPlan"]

#: The endpoints a fault can target: the stream, the backlog, sending.
Endpoint = Literal["stream", "list", "send"]

_ENDPOINTS = ("stream", "list", "send")


@dataclass(frozen=True, slots=True)
class CannedReply:
    """A complete response that a reply fault sends instead of the real one."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    crash: bool = False  # raise inside the handler instead (internal_error)


@dataclass(slots=True)
class StreamPlan:
    """How the stream faults shape one stream's body."""

    drop_after_events: int | None = None
    drop_at_byte: int | None = None
    # Each drop resets the TCP connection (RST) instead of closing it.
    reset_after_events: bool = False
    reset_at_byte: bool = False
    stall: float | None = None
    trickle: bool = False
    prefix: list[bytes] = field(default_factory=list)
    # HTTP/2: the RST_STREAM error code of a reset (None: INTERNAL_ERROR).
    reset_code: int | None = None


@dataclass(slots=True)
class ConnectionPlan:
    """How the connection faults shape one HTTP/2 connection."""

    stop_reading: bool = False
    stop_reading_seconds: float | None = None
    stop_acknowledging: bool = False


@dataclass(slots=True)
class _ReplyFault:
    reply: CannedReply
    endpoint: Endpoint | None
    conversation_id: str | None
    remaining: int


@dataclass(frozen=True, slots=True)
class _StreamFault:
    kind: str
    conversation_id: str | None
    apply: Callable[[StreamPlan], None]


class Faults:
    """Faults to inject into the next matching request(s); ``server.faults``.

    Each method arms one fault and returns at once. A fault applies to the
    next matching request only (``fail_next`` to the next ``n``) and is
    consumed when used. Every method takes an optional ``conversation_id``:
    when given, only requests for that conversation match.

    Reply faults (``fail_next``, ``wrong_content_type``, ``no_content``,
    ``redirect``, ``internal_error``) answer before authentication, like a proxy would. Stream
    faults apply to the next stream that passes authentication; faults of
    different kinds combine on one stream (on HTTP/2 a drop ends that stream
    alone: END_STREAM, or RST_STREAM with ``reset=True``). Connection faults
    (``stop_reading``, ``stop_acknowledging``) go to the next HTTP/2
    connection. See ``docs/testing.md``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: list[_ReplyFault] = []
        self._streams: list[_StreamFault] = []
        self._connections: list[Callable[[ConnectionPlan], None]] = []

    # -- reply faults ----------------------------------------------------------

    def fail_next(
        self,
        n: int,
        status: int,
        *,
        retry_after: int | str | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
        endpoint: Endpoint | None = "stream",
        conversation_id: str | None = None,
    ) -> None:
        """Answer the next ``n`` requests to ``endpoint`` with ``status``.

        Args:
            n: how many requests fail (at least 1).
            status: a 4xx or 5xx status.
            retry_after: sent as ``Retry-After``: an int of seconds, or a
                string sent verbatim (e.g. an HTTP date, or garbage).
            body: the body bytes; default a JSON error body whose ``code``
                matches the status (``unavailable`` for 503, ...).
            content_type: the ``Content-Type`` of the body.
            endpoint: ``"stream"``, ``"list"``, ``"send"``, or None for any
                of the three.
            conversation_id: only requests for this conversation match.
        """
        _check_count("n", n, minimum=1)
        if type(status) is not int or not 400 <= status <= 599:
            raise ValueError("status must be an int from 400 to 599")
        headers = [("content-type", _header_value("content_type", content_type))]
        if retry_after is not None:
            if isinstance(retry_after, str):
                headers.append(("retry-after", _header_value("retry_after", retry_after)))
            else:
                _check_count("retry_after", retry_after, minimum=0)
                headers.append(("retry-after", str(retry_after)))
        if body is None:
            body = error_body(status, f"injected failure (HTTP {status})")
        self._arm_reply(CannedReply(status, headers, bytes(body)), endpoint, conversation_id, n)

    def wrong_content_type(
        self,
        content_type: str = "application/json",
        *,
        body: bytes = b'{"note":"this is not an event stream"}',
        conversation_id: str | None = None,
    ) -> None:
        """Answer the next stream with 200, ``content_type`` and a small body."""
        headers = [("content-type", _header_value("content_type", content_type))]
        self._arm_reply(CannedReply(200, headers, bytes(body)), "stream", conversation_id, 1)

    def no_content(self, *, conversation_id: str | None = None) -> None:
        """Answer the next stream with 204 No Content (the server says: stop)."""
        self._arm_reply(CannedReply(204, [], b""), "stream", conversation_id, 1)

    def redirect(
        self, location: str | None, status: int = 307, *, conversation_id: str | None = None
    ) -> None:
        """Redirect the next stream to ``location`` (absolute or relative).

        ``location=None`` sends the redirect without a ``Location`` header.
        The value is sent verbatim, so an invalid URL can be injected too.
        """
        if status not in (301, 302, 303, 307, 308):
            raise ValueError("status must be one of 301, 302, 303, 307, 308")
        headers = [] if location is None else [("location", _header_value("location", location))]
        self._arm_reply(CannedReply(status, headers, b""), "stream", conversation_id, 1)

    def internal_error(
        self, *, endpoint: Endpoint | None = "stream", conversation_id: str | None = None
    ) -> None:
        """Make the handler of the next request to ``endpoint`` raise an exception.

        This exercises the server's own error path: the exception is logged
        (with its traceback, on the ``expys_stream.testing`` logger) and the
        client gets a 500 ``internal_error`` JSON body, never a traceback.
        """
        self._arm_reply(CannedReply(500, [], b"", crash=True), endpoint, conversation_id, 1)

    # -- stream faults ---------------------------------------------------------

    def drop_after_events(
        self, n: int, *, reset: bool = False, conversation_id: str | None = None
    ) -> None:
        """Abort the next stream's connection after ``n`` message events.

        Replayed and live messages count; the connection is closed without
        the chunked terminator, right after the ``n``-th event (``n=0``:
        right after the ``retry`` line). With ``reset=True`` the server
        resets it (TCP RST, as a crashed peer or a middlebox would) instead
        of closing it, so the client's read fails with "connection reset"
        rather than seeing the end of the stream.
        """
        _check_count("n", n, minimum=0)
        _check_flag("reset", reset)

        def apply(plan: StreamPlan) -> None:
            plan.drop_after_events = n
            plan.reset_after_events = reset

        self._arm_stream("drop_after_events", conversation_id, apply)

    def drop_at_byte(
        self, offset: int, *, reset: bool = False, conversation_id: str | None = None
    ) -> None:
        """Abort the next stream after exactly ``offset`` bytes of SSE body.

        The body bytes count from the first byte of the ``retry`` line
        (chunk framing is not counted), so the cut may fall inside an event.
        ``reset=True`` resets the connection instead of closing it (see
        [`drop_after_events`][expys_stream.testing.Faults.drop_after_events]).
        """
        _check_count("offset", offset, minimum=0)
        _check_flag("reset", reset)

        def apply(plan: StreamPlan) -> None:
            plan.drop_at_byte = offset
            plan.reset_at_byte = reset

        self._arm_stream("drop_at_byte", conversation_id, apply)

    def stall(self, seconds: float, *, conversation_id: str | None = None) -> None:
        """After headers and ``retry`` line, send nothing for ``seconds``.

        No keepalives and no events while stalled; then the stream goes on
        normally, delivering whatever was published meanwhile.
        """
        if not seconds >= 0:
            raise ValueError("seconds must be >= 0")

        def apply(plan: StreamPlan) -> None:
            plan.stall = float(seconds)

        self._arm_stream("stall", conversation_id, apply)

    def trickle(self, *, conversation_id: str | None = None) -> None:
        """Write the next stream's whole body one byte per HTTP chunk."""

        def apply(plan: StreamPlan) -> None:
            plan.trickle = True

        self._arm_stream("trickle", conversation_id, apply)

    def invalid_utf8(self, *, conversation_id: str | None = None) -> None:
        """Send first, on the next stream, a ``message`` event of invalid UTF-8.

        The event has no ``id`` field, so it leaves the client's last event
        ID alone.
        """
        event = b'event: message\ndata: {"id":"msg_\xff\xfe","body":"\xc3\x28"}\n\n'
        self._arm_prefix("invalid_utf8", conversation_id, event)

    def oversized_event(self, size: int, *, conversation_id: str | None = None) -> None:
        """Send first, on the next stream, a ``message`` event of ``size`` bytes of data.

        The data is ``size`` ASCII ``x`` bytes on one line, without an ``id``.
        """
        _check_count("size", size, minimum=0)
        event = b"event: message\ndata: " + b"x" * size + b"\n\n"
        self._arm_prefix("oversized_event", conversation_id, event)

    def invalid_message(
        self,
        data: str | bytes,
        *,
        id: str = "msg_invalid",  # noqa: A002 - the SSE field is called id
        conversation_id: str | None = None,
    ) -> None:
        """Send first, on the next stream, ``event: message`` with ``data`` and ``id``.

        For messages the client must reject, e.g. JSON that lacks a field.
        ``data`` bytes must be UTF-8 (use ``invalid_utf8`` for the other
        case); the id is not a stored message, so resuming from it replays
        nothing.
        """
        event = encode_event(data, event="message", id=id)
        self._arm_prefix("invalid_message", conversation_id, event)

    # -- HTTP/2 faults -----------------------------------------------------------

    def reset_stream(
        self, after_events: int = 0, *, error_code: int = 0x2, conversation_id: str | None = None
    ) -> None:
        """Reset the next stream after ``after_events`` message events (a stream fault).

        On HTTP/2 the server sends RST_STREAM with ``error_code`` (default
        ``INTERNAL_ERROR``, 0x2; e.g. 0x7 ``REFUSED_STREAM``, 0xB
        ``ENHANCE_YOUR_CALM``), and the other streams of the connection go
        on. On HTTP/1.1 it is ``drop_after_events(after_events, reset=True)``:
        a TCP RST.
        """
        _check_count("after_events", after_events, minimum=0)
        if type(error_code) is not int or not 0 <= error_code <= 0xFFFFFFFF:
            raise ValueError("error_code must be an int from 0 to 2**32 - 1")

        def apply(plan: StreamPlan) -> None:
            plan.drop_after_events = after_events
            plan.reset_after_events = True
            plan.reset_code = error_code

        self._arm_stream("reset_stream", conversation_id, apply)

    def stop_reading(self, seconds: float | None = None) -> None:
        """Make the next HTTP/2 connection stop reading its socket after its first request.

        For ``seconds`` (None: until it closes), the server reads nothing
        from that connection: the client's PINGs go unanswered, its
        WINDOW_UPDATEs unseen (so the server's sending stalls once the
        windows are spent), its RST_STREAMs unnoticed.
        ``server.connections()`` shows ``reading=False`` meanwhile.
        """
        if seconds is not None and not (is_seconds(seconds) and seconds >= 0):
            raise ValueError("seconds must be a number >= 0, or None")

        def apply(plan: ConnectionPlan) -> None:
            plan.stop_reading = True
            plan.stop_reading_seconds = None if seconds is None else float(seconds)

        with self._lock:
            self._connections.append(apply)

    def stop_acknowledging(self) -> None:
        """Make the next HTTP/2 connection never acknowledge the request bytes it reads.

        No WINDOW_UPDATE goes back for request bodies, so the client's send
        windows (64 KiB - 1 each, at first) fill and stay full: a client
        sending a larger body blocks, as against a server that stopped
        consuming.
        """

        def apply(plan: ConnectionPlan) -> None:
            plan.stop_acknowledging = True

        with self._lock:
            self._connections.append(apply)

    # -- bookkeeping -------------------------------------------------------------

    @property
    def pending(self) -> int:
        """How many armed faults have not been used up yet."""
        with self._lock:
            return len(self._replies) + len(self._streams) + len(self._connections)

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._replies.clear()
            self._streams.clear()
            self._connections.clear()

    def __repr__(self) -> str:
        return f"<Faults pending={self.pending}>"

    # -- used by the server ------------------------------------------------------

    def _take_reply(self, endpoint: Endpoint, conversation_id: str) -> CannedReply | None:
        with self._lock:
            for fault in self._replies:
                if fault.endpoint not in (None, endpoint):
                    continue
                if fault.conversation_id not in (None, conversation_id):
                    continue
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._replies.remove(fault)
                return fault.reply
        return None

    def _take_stream_plan(self, conversation_id: str) -> StreamPlan:
        plan = StreamPlan()
        with self._lock:
            taken: dict[str, _StreamFault] = {}
            for fault in self._streams:
                if fault.kind not in taken and fault.conversation_id in (None, conversation_id):
                    taken[fault.kind] = fault
            for fault in taken.values():  # dicts keep arming order
                self._streams.remove(fault)
                fault.apply(plan)
        return plan

    def _take_connection_plan(self) -> ConnectionPlan:
        """Every armed connection fault, for the HTTP/2 connection starting now."""
        plan = ConnectionPlan()
        with self._lock:
            for apply in self._connections:
                apply(plan)
            self._connections.clear()
        return plan

    def _arm_reply(
        self,
        reply: CannedReply,
        endpoint: Endpoint | None,
        conversation_id: str | None,
        n: int,
    ) -> None:
        if endpoint is not None and endpoint not in _ENDPOINTS:
            raise ValueError(f"endpoint must be one of {_ENDPOINTS} or None")
        _check_conversation(conversation_id)
        with self._lock:
            self._replies.append(_ReplyFault(reply, endpoint, conversation_id, n))

    def _arm_stream(
        self, kind: str, conversation_id: str | None, apply: Callable[[StreamPlan], None]
    ) -> None:
        _check_conversation(conversation_id)
        with self._lock:
            self._streams.append(_StreamFault(kind, conversation_id, apply))

    def _arm_prefix(self, kind: str, conversation_id: str | None, event: bytes) -> None:
        def apply(plan: StreamPlan) -> None:
            plan.prefix.append(event)

        self._arm_stream(kind, conversation_id, apply)


Faults.__module__ = "expys_stream.testing"


def _check_count(name: str, value: object, *, minimum: int) -> None:
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}")


def _check_conversation(conversation_id: object) -> None:
    # (A fault for an id of another type would wait forever, matching nothing.)
    if conversation_id is not None and not isinstance(conversation_id, str):
        raise TypeError("conversation_id must be a str or None")


def _check_flag(name: str, value: object) -> None:
    if type(value) is not bool:
        raise TypeError(f"{name} must be a bool")


def _header_value(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str")
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError(f"{name} must not contain CR, LF or NUL")
    return value
