"""A sans-IO decoder for the ``text/event-stream`` format.

Bytes go in, finished events come out; there is no I/O, no clock, no
randomness and no logging here, so the same decoder serves any transport,
any event loop, or none.

How it follows the WHATWG HTML standard ("Server-sent events", section
"Interpreting an event stream"):

* The stream is UTF-8. CR and LF never occur inside a UTF-8 sequence, so
  lines are split as bytes and each field value is decoded on its own with
  ``errors="replace"``: the same text that decoding the whole stream first
  would give. ``data`` stays as bytes until someone asks for text.
* One BOM at the very start of the stream is dropped, and only there.
* A line ends at CRLF, LF or CR. ``bytes.splitlines`` splits on exactly these
  three, in C; a CR that ends one chunk makes a LF that starts the next part
  of the same line end.
* Blank line: dispatch. ``:`` first: a comment. Otherwise ``name:value`` with
  one leading space of the value removed, or a whole line naming a field
  with an empty value. Unknown fields are ignored.
* ``data`` lines are joined with LF; ``event`` sets the type of the next
  dispatch only; ``id`` sets the last-event-ID buffer unless the value holds
  NUL; ``retry`` counts only when it is all ASCII digits.
* At a blank line the stream's last event ID becomes the buffer's value
  (even when nothing is dispatched); an event with no ``data`` line at all is
  not dispatched. Whatever follows the last blank line is never dispatched.

Memory is bounded: the only things held between calls are the unfinished
line and the unfinished event. A line longer than ``max_event_size`` bytes,
or an event whose data grows past it, raises :class:`EventTooLarge`.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

from ._errors import EventTooLarge
from ._event import ServerSentEvent

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "MAX_RETRY", "SSEDecoder"]

#: Default limit, in bytes, for one line and for one event's data.
DEFAULT_MAX_EVENT_SIZE = 1024 * 1024

#: ``retry`` values are clamped to this many milliseconds (about 292 million
#: years), so that an absurd field never makes a huge integer.
MAX_RETRY = 2**63 - 1

_BOM = b"\xef\xbb\xbf"
_new_event = ServerSentEvent.__new__
_startswith = bytes.startswith
# Event types repeat (usually "message"), so the text of each whole
# "event: ..." line is cached; the cache is bounded so that a hostile stream
# of unique types cannot grow it.
_TYPE_CACHE_SIZE = 256
# Complete lines after the last blank line of a chunk are held back (so that
# the next chunk starts on an event boundary, where the fast path works) while
# there are at most this many of them.
_HOLD_LINES = 8
# Marks the end of a chunk's lines for the loops in _process (three of them,
# so that zip over four never drops the last real lines of a chunk). A line
# from splitlines never holds LF, so no real line equals it.
_EOL = b"\n"
_END = (_EOL, _EOL, _EOL)


class SSEDecoder:
    """Incremental, sans-IO decoder of one ``text/event-stream`` response.

    Feed it the response body in chunks of any size, split anywhere (inside
    a field, between CR and LF, inside a UTF-8 sequence); each call returns
    the list of events that the chunk completed, in order::

        decoder = SSEDecoder()
        for chunk in body_chunks:
            for event in decoder.feed(chunk):
                handle(event)

    One decoder reads one response. To reconnect, make a new decoder and
    pass it the old one's ``last_event_id`` so that the events it dispatches
    carry the stream's ID until the server sends a new one.

    Args:
        max_event_size: the longest line, and the most data one event may
            accumulate, in bytes. The decoder never holds more than this for
            the unfinished line, nor for the unfinished event.
        last_event_id: the stream's last event ID to start from.

    Raises:
        ValueError: ``max_event_size`` is not a positive int, or
            ``last_event_id`` holds NUL.
    """

    __slots__ = (
        "_at_start",
        "_carried_nul",
        "_data",
        "_data_size",
        "_event_retry",
        "_failed",
        "_held",
        "_id_line",
        "_last_id_line",
        "_line_types",
        "_max",
        "_pending_cr",
        "_retry",
        "_tail",
        "_tail_size",
        "_type",
    )

    def __init__(
        self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE, *, last_event_id: str = ""
    ) -> None:
        if type(max_event_size) is not int or max_event_size < 1:
            raise ValueError(f"max_event_size must be a positive int, not {max_event_size!r}")
        if not isinstance(last_event_id, str) or "\0" in last_event_id:
            raise ValueError("last_event_id must be a str without NUL")
        self._max = max_event_size
        self._at_start = True  # the BOM question is not settled yet
        self._pending_cr = False  # the previous chunk ended with CR
        self._failed: str | None = None
        self._tail: list[bytes] = []  # fragments of the unfinished line
        self._tail_size = 0
        self._held: list[bytes] = []  # complete lines of an unfinished event
        self._carried_nul = False  # the tail or the held lines hold a NUL
        # The unfinished event: its data lines, their joined size, its type
        # (None means "message") and a retry set inside its block.
        self._data: list[bytes] = []
        self._data_size = 0
        self._type: str | None = None
        self._event_retry: int | None = None
        # IDs are kept as raw "id: VALUE" lines and decoded on demand.
        self._id_line = self._last_id_line = b"id: " + last_event_id.encode("utf-8")
        self._retry: int | None = None
        # Whole "event" lines already seen, mapped to their type.
        self._line_types: dict[bytes, str] = {b"event: message": "message"}

    @property
    def last_event_id(self) -> str:
        """The stream's last event ID: the ID buffer as of the latest blank line.

        This is what a reconnecting client sends as ``Last-Event-ID``. An
        ``id`` field of an event that has not been completed yet does not
        count, so a connection that drops in the middle of an event resumes
        before that event, not after it.
        """
        return self._last_id_line[4:].decode("utf-8", "replace")

    @property
    def retry(self) -> int | None:
        """The reconnection time in ms most recently set by the stream, or None."""
        return self._retry

    @property
    def max_event_size(self) -> int:
        """The limit given at construction, in bytes."""
        return self._max

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Decode one chunk and return the events it completed, in order.

        ``data`` may be any bytes-like object; an empty chunk returns ``[]``.
        The decoder keeps whatever is unfinished until the next call. The end
        of the stream needs no call: an unfinished event is simply never
        dispatched, as the standard says.

        Raises:
            EventTooLarge: a line or an event's data outgrew
                ``max_event_size``. ``events`` on the exception holds the
                events this call completed before that point. The decoder
                then stays failed.
        """
        if self._failed is not None:
            raise EventTooLarge(
                f"the decoder failed earlier ({self._failed}); make a new one",
                limit=self._max,
            )
        if type(data) is not bytes:
            data = bytes(data)
        if self._at_start:
            data = self._strip_bom(data)
        if not data:
            return []
        if self._pending_cr:
            self._pending_cr = False
            if data[0] == 10:  # the LF of a CRLF split across chunks
                data = data[1:]
                if not data:
                    return []

        lines = data.splitlines()
        last = data[-1]
        if last == 10 or last == 13:
            self._pending_cr = last == 13
            tail = b""
        else:
            tail = lines.pop()  # the unfinished last line

        limit = self._max
        # NUL changes what an id line means, so the fast path is off for a
        # chunk that holds one, or that continues lines that held one.
        nul = self._carried_nul or b"\0" in data
        joined = self._tail_size
        if self._tail:
            if not lines:  # still inside the same line
                self._tail.append(tail)
                self._tail_size += len(tail)
                self._carried_nul = nul
                if self._tail_size > limit:
                    self._fail_line([])
                return []
            self._tail.append(lines[0])
            lines[0] = b"".join(self._tail)
            self._tail = []
            self._tail_size = 0
        if self._held:
            lines[0:0] = self._held
            self._held = []

        events: list[ServerSentEvent] = []
        if lines:
            if len(data) + joined > limit:
                # Only a chunk (plus the fragment it completes) longer than
                # the limit can hold a line that breaks it: check lines then.
                for index, line in enumerate(lines):
                    if len(line) > limit:
                        self._process(lines[:index], events, not nul)
                        self._fail_line(events)
            # Hold back the complete lines of the unfinished event (usually
            # one or two), unless there are many, they are large, or they
            # set the retry time (which takes effect at once).
            end = len(lines)
            while end and lines[end - 1]:
                end -= 1
            held = lines[end:]
            if (
                held
                and len(held) <= _HOLD_LINES
                and sum(map(len, held)) + len(tail) <= limit
                and not any(line.startswith(b"retry") for line in held)
            ):
                self._held = held
                del lines[end:]
            self._process(lines, events, not nul)
        if tail:
            if len(tail) > limit:
                self._fail_line(events)
            self._tail = [tail]
            self._tail_size = len(tail)
        self._carried_nul = nul and bool(self._tail or self._held)
        return events

    def _strip_bom(self, data: bytes) -> bytes:
        # Settles the BOM question once at least three bytes (or a mismatch)
        # have arrived; until then, holds the first bytes back.
        if self._tail:
            data = b"".join(self._tail) + data
            self._tail = []
            self._tail_size = 0
        if len(data) < 3 and _BOM.startswith(data):
            if data:
                self._tail = [data]
                self._tail_size = len(data)
            return b""
        self._at_start = False
        return data[3:] if data.startswith(_BOM) else data

    def _fail_line(self, events: list[ServerSentEvent]) -> None:
        self._fail(f"a line is longer than {self._max} bytes", events)

    def _fail(self, reason: str, events: list[ServerSentEvent]) -> None:
        self._failed = reason
        self._tail = []
        self._held = []
        self._data = []
        raise EventTooLarge(f"{reason} (max_event_size)", limit=self._max, events=events)

    def _process(self, lines: list[bytes], events: list[ServerSentEvent], fast: bool) -> None:
        # The hot loop over complete lines.
        #
        # Chat streams repeat one shape, "id: X" / "event: T" / "data: D" /
        # "" (or with the event line first), so at an event boundary lines
        # are taken four at a time (zip
        # over one shared iterator pulls them in C) and a window of exactly
        # that shape becomes an event in a handful of operations: a blank
        # fourth line, single-space "id: " and "data: " prefixes, and an
        # "event" line already seen (so its type is cached). At a boundary
        # no event is in progress, and for such a window the shortcut gives
        # exactly what the general rules give. ``fast`` is False when the
        # chunk holds a NUL, which changes the meaning of an id line.
        #
        # Any other window goes to _realign, which applies the general rules
        # line by line (trying the shape again at each boundary) until it is
        # back at a boundary with no line in hand; the zip loop then goes on
        # pulling from the same iterator. Every line is handled once.
        if not lines:
            return
        it: Iterator[bytes] = chain(lines, _END)
        if not fast:
            for line in it:
                if line == _EOL:
                    return
                self._line(line, events)
            return
        append = events.append
        types = self._line_types
        startswith = _startswith
        window: list[bytes] = []
        fast_id: bytes | None = None
        while self._realign(window, it, events):
            for a, b, c, d in zip(it, it, it, it, strict=False):
                if d == b"" and startswith(c, b"data: "):
                    if startswith(a, b"id: "):  # id, event, data
                        etype = "message" if b == b"event: message" else types.get(b)
                        id_line = a
                    elif startswith(b, b"id: "):  # event, id, data
                        etype = "message" if a == b"event: message" else types.get(a)
                        id_line = b
                    else:
                        etype = None
                    if etype is not None:
                        event = _new_event(ServerSentEvent)
                        event._data_bytes = c[6:]
                        event._event = etype
                        event._id_line = fast_id = id_line
                        event._retry = None
                        append(event)
                        continue
                window = [a, b, c, d]
                break
            else:
                window = []  # only end markers were left (zip dropped them)
            if fast_id is not None:
                self._id_line = self._last_id_line = fast_id
                fast_id = None
            if not window:
                return

    def _realign(
        self, window: list[bytes], it: Iterator[bytes], events: list[ServerSentEvent]
    ) -> bool:
        # Applies the general rules to the lines in ``window`` and then to
        # lines from ``it``, until no line is in hand and no event is in
        # progress. At each boundary with four lines available it first
        # tries the fast shape. False when the end marker came first.
        pending = window
        while True:
            boundary = not self._data and self._type is None and self._event_retry is None
            if boundary:
                if not pending:
                    return True
                while len(pending) < 4 and pending[-1] != _EOL:
                    pending.append(next(it))
                if len(pending) >= 4 and self._shortcut(pending, events):
                    del pending[:4]
                    continue
            elif not pending:
                pending.append(next(it))
            line = pending.pop(0)
            if line == _EOL:
                return False
            self._line(line, events)

    def _shortcut(self, lines: list[bytes], events: list[ServerSentEvent]) -> bool:
        # The fast shape of _process for the first four of ``lines`` (used
        # while realigning; the hot loop has its own inline copy).
        a, b, c, d = lines[:4]
        if d != b"" or not c.startswith(b"data: "):
            return False
        if a.startswith(b"id: "):
            id_line, type_line = a, b
        elif b.startswith(b"id: "):
            id_line, type_line = b, a
        else:
            return False
        etype = self._line_types.get(type_line)
        if etype is None:
            return False
        event = _new_event(ServerSentEvent)
        event._data_bytes = c[6:]
        event._event = etype
        event._id_line = self._id_line = self._last_id_line = id_line
        event._retry = None
        events.append(event)
        return True

    def _line(self, line: bytes, events: list[ServerSentEvent]) -> None:
        # The standard's rules for one complete line, applied to the state
        # kept on self. Slower than the shortcut in _process, and complete.
        if not line:
            self._last_id_line = self._id_line
            if self._data:
                event = _new_event(ServerSentEvent)
                data = self._data
                event._data_bytes = data[0] if len(data) == 1 else b"\n".join(data)
                event._event = "message" if self._type is None else self._type
                event._id_line = self._id_line
                event._retry = self._event_retry
                events.append(event)
                self._data = []
                self._data_size = 0
            self._type = None
            self._event_retry = None
            return
        if line[0] == 58:  # ":" starts a comment
            return
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            if self._data:
                # Only a second data line can take the data past the limit,
                # as one line is already bounded.
                self._data_size += len(value) + 1
                self._data.append(value)
                if self._data_size > self._max:
                    self._fail(f"an event's data is longer than {self._max} bytes", events)
            else:
                self._data = [value]
                self._data_size = len(value)
        elif name == b"event":
            self._type = self._type_name(line, value)
        elif name == b"id":
            if b"\0" not in value:
                self._id_line = line if line.startswith(b"id: ") else b"id: " + value
        elif name == b"retry" and value.isdigit():
            self._event_retry = self._retry = _parse_retry(value)

    def _type_name(self, line: bytes, value: bytes) -> str:
        name = self._line_types.get(line)
        if name is None:
            # An empty type means the default, as if there were no field.
            name = value.decode("utf-8", "replace") or "message"
            if len(self._line_types) < _TYPE_CACHE_SIZE:
                self._line_types[line] = name
        return name


def _parse_retry(digits: bytes) -> int:
    significant = digits.lstrip(b"0")
    if len(significant) > 19:
        return MAX_RETRY
    return min(int(significant or b"0"), MAX_RETRY)
