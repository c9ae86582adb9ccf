"""The standard's rules for one line at a time, and the decoder's slow paths.

:class:`_LineRules` holds the decoder's state (its ``__slots__``, checked
and set up by its ``__init__``) and the methods that are not on the hot
path: the general rules for a line that the chat-shaped shortcut of
``SSEDecoder._bulk`` does not take, chunks longer than the limit, the BOM
at the start, and failing. ``SSEDecoder`` (in ``_decoder.py``) derives from
it and keeps ``feed`` and its fast path.
"""

from __future__ import annotations

from typing import Any

from ._errors import EventTooLarge
from ._event import ServerSentEvent, _comment, _id_line
from ._lines import _CR, _NUL, _parse_retry, _valid_id

_BOM = b"\xef\xbb\xbf"
_new_event = ServerSentEvent.__new__
# Event types repeat (usually "message"), so the text of each whole
# "event: ..." line is cached; the cache is bounded so that a hostile stream
# of unique types cannot grow it.
_TYPE_CACHE_SIZE = 256  # types (each is cached under three keys)


# The type cache every decoder starts with (copied before it grows).
_DEFAULT_LINE_TYPES: dict[bytes, str] = {
    b"event: message": "message",
    b"event: message\n": "message",
    b"event: message\r\n": "message",
}


class _LineRules:
    """The decoder's state, its checked setup and its line-by-line rules
    (see ``SSEDecoder``)."""

    __slots__ = (
        "_at_start",
        "_comments",
        "_data",
        "_data_size",
        "_event_retry",
        "_failed",
        "_held",
        "_held_cr",
        "_held_size",
        "_id_line",
        "_last_id_line",
        "_line_types",
        "_max",
        "_pending_cr",
        "_retry",
        "_tail",
        "_tail_size",
        "_type",
        "_unclean",
    )

    def __init__(self, max_event_size: int, last_event_id: str, comments: bool) -> None:
        # SSEDecoder.__init__, with its arguments (documented there).
        if type(comments) is not bool:
            raise TypeError(f"comments must be a bool, not {type(comments).__name__}")
        if type(max_event_size) is not int or max_event_size < 1:
            raise ValueError(f"max_event_size must be a positive int, not {max_event_size!r}")
        if not isinstance(last_event_id, str) or not _valid_id(last_event_id):
            # A stream cannot set such an ID, nor a header carry it.
            raise ValueError("last_event_id must be a str without NUL, CR or LF")
        self._max = max_event_size
        self._comments = comments
        self._at_start = True  # the BOM question is not settled yet
        self._pending_cr = False  # the previous chunk ended with CR
        self._failed: str | None = None
        self._tail: list[bytes | bytearray] = []  # pieces of the unfinished line
        self._tail_size = 0
        # Complete lines of an unfinished event, each with its LF or CRLF,
        # and whether they hold a CR (then only in CRLFs).
        self._held: list[bytes] = []
        self._held_size = 0
        self._held_cr = False
        # The unfinished event: its data lines, their joined size, its type
        # (None means "message") and a retry set inside its block.
        self._data: list[bytes] = []
        self._data_size = 0
        self._type: str | None = None
        self._event_retry: int | None = None
        # IDs are kept as raw b"id: VALUE\n" lines and decoded on demand.
        self._id_line = self._last_id_line = _id_line(last_event_id, "last_event_id")
        self._retry: int | None = None
        # In a chunk with a CR, the last run stopped at a window whose line
        # ends did not qualify for the shortcut.
        self._unclean = False
        # Whole "event" lines already seen, mapped to their type: shared
        # until the first other type is seen (an idle stream holds this).
        self._line_types: dict[bytes, str] = _DEFAULT_LINE_TYPES

    def _feed_oversized(self, data: bytes) -> list[Any]:
        # A chunk longer than the limit, with a CR in it: splitlines finds
        # every line, whatever ends it, so that each is checked against the
        # limit. No fast path and nothing held back; these lines come
        # without their line ends. A CR at the very end was made CRLF by
        # feed.
        lines = data.splitlines()
        tail = b"" if data[-1] == 10 else lines.pop()
        events: list[Any] = []
        limit = self._max
        for line in lines:
            if len(line) > limit:
                self._fail_line(events)
            self._line(line, events)
        self._keep_tail(tail, events)
        return events

    def _keep_tail(self, tail: bytes, events: list[Any]) -> None:
        # ``tail``, the unfinished line, never holds a CR: feed splits the
        # lines that a lone CR ends off it, and splitlines leaves none.
        if tail:
            if len(tail) > self._max:
                self._fail_line(events)
            self._tail = [tail]
            self._tail_size = len(tail)

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

    def _fail_line(self, events: list[Any]) -> None:
        self._fail(f"a line is longer than {self._max} bytes", events)

    def _fail(self, reason: str, events: list[Any]) -> None:
        self._failed = reason
        self._tail = []
        self._held = []
        self._held_size = 0
        self._held_cr = False
        self._data = []
        error = EventTooLarge(f"{reason} (max_event_size)", limit=self._max, events=events)
        if self._comments:
            error.items = list(events)
            error.events = [item for item in events if type(item) is ServerSentEvent]
        raise error

    def _cr_line(self, line: bytes, events: list[Any]) -> None:
        # One line from readlines in a chunk that holds a CR: it ends with
        # CRLF or LF, and a lone CR inside it ends a line as well.
        body = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        if _CR in body:
            for part in body.split(b"\r"):
                self._line(part, events)
        else:
            self._line(body, events)

    def _line(self, line: bytes, events: list[Any]) -> None:
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
            if self._comments:
                events.append(_comment(line))
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
            if _NUL not in value:
                self._id_line = b"id: " + value + b"\n"
        elif name == b"retry" and value.isdigit():
            self._event_retry = self._retry = _parse_retry(value)

    def _type_name(self, line: bytes, value: bytes) -> str:
        name = self._line_types.get(line)
        if name is None:
            # An empty type means the default, as if there were no field.
            name = value.decode("utf-8", "replace") or "message"
            if len(self._line_types) < 3 * _TYPE_CACHE_SIZE:
                # Keyed also with its line end as _bulk sees it.
                types = self._line_types
                if types is _DEFAULT_LINE_TYPES:
                    types = self._line_types = dict(types)
                types[line] = types[line + b"\n"] = types[line + b"\r\n"] = name
        return name
