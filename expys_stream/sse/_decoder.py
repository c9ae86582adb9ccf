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
* A line ends at CRLF, LF or CR. Every chunk is split at its LFs by
  ``BytesIO.readlines`` (memchr, in C). In a chunk that holds a CR, a line
  whose text still holds one is split there again, so that CRLF, LF and a
  lone CR all end a line, in any mix. A CR that ends one chunk makes a LF
  that starts the next part of the same line end.
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

from collections.abc import Iterable
from io import BytesIO
from itertools import compress, count, repeat
from operator import itemgetter, ne
from typing import Any, Generic, Literal, TypeVar, cast, overload

from ._errors import EventTooLarge
from ._event import Comment, ServerSentEvent, _id_text
from ._lines import (
    _BLANK_CRLF,
    _BLANK_LF,
    _CR,
    _HOLD_LINES,
    _LF,
    _NUL,
    _RUN,
    _SHIFT_LINES,
    _SMALL_PIECE,
    _TAIL_PIECES,
    MAX_RETRY,
    _clean_window,
    _clean_windows,
    _has_comment,
    _keepalive_at,
)
from ._rules import _LineRules, _new_event

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "MAX_RETRY", "SSEDecoder"]

DEFAULT_MAX_EVENT_SIZE = 1024 * 1024
"""Default limit, in bytes, for one line and for one event's data (1 MiB)."""

#: What ``feed`` returns items of: events, and comments when asked for.
_Item = TypeVar("_Item", bound="ServerSentEvent | Comment")

_data_value = itemgetter(slice(6, -1))  # b"data: VALUE\n" -> b"VALUE"
_data_value_crlf = itemgetter(slice(6, -2))  # b"data: VALUE\r\n" -> b"VALUE"
_MESSAGE_LF = b"event: message\n"
_MESSAGE_CRLF = b"event: message\r\n"


class SSEDecoder(_LineRules, Generic[_Item]):
    """Incremental, sans-IO decoder of one ``text/event-stream`` response.

    Feed it the response body in chunks of any size, split anywhere (inside
    a field, between CR and LF, inside a UTF-8 sequence); each call returns
    the list of events that the chunk completed, in order:

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
        comments: also return each comment line, as a [`Comment`][expys_stream.sse.Comment], in
            stream order among the events (a comment inside an event's block
            comes before that event, whose blank line comes later). Off by
            default: the standard ignores comments, and so does the decoder.

    Raises:
        ValueError: ``max_event_size`` is not a positive int, or
            ``last_event_id`` holds NUL, CR or LF.
    """

    __slots__ = ()  # (the state is declared on _LineRules)

    @overload
    def __init__(
        self: SSEDecoder[ServerSentEvent],
        max_event_size: int = ...,
        *,
        last_event_id: str = ...,
        comments: Literal[False] = ...,
    ) -> None: ...

    @overload
    def __init__(
        self: SSEDecoder[ServerSentEvent | Comment],
        max_event_size: int = ...,
        *,
        last_event_id: str = ...,
        comments: bool,
    ) -> None: ...

    def __init__(
        self,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        *,
        last_event_id: str = "",
        comments: bool = False,
    ) -> None:
        # (The checks and the state are in _LineRules, beside the rules that
        # use that state.)
        super().__init__(max_event_size, last_event_id, comments)

    @property
    def last_event_id(self) -> str:
        """The stream's last event ID: the ID buffer as of the latest blank line.

        This is what a reconnecting client sends as ``Last-Event-ID``. An
        ``id`` field of an event that has not been completed yet does not
        count, so a connection that drops in the middle of an event resumes
        before that event, not after it.
        """
        return _id_text(self._last_id_line)

    @property
    def retry(self) -> int | None:
        """The reconnection time in ms most recently set by the stream, or None."""
        return self._retry

    @property
    def max_event_size(self) -> int:
        """The limit given at construction, in bytes."""
        return self._max

    @property
    def comments(self) -> bool:
        """Whether ``feed`` also returns comments (given at construction)."""
        return self._comments

    def feed(self, data: bytes) -> list[_Item]:
        """Decode one chunk and return the events it completed, in order
        (and the comment lines it completed, for a decoder made with
        ``comments=True``).

        ``data`` may be any bytes-like object; an empty chunk returns ``[]``.
        The decoder keeps whatever is unfinished until the next call. The end
        of the stream needs no call: an unfinished event is simply never
        dispatched, as the standard says.

        Raises:
            EventTooLarge: a line or an event's data outgrew
                ``max_event_size``. ``events`` on the exception holds the
                events this call completed before that point (``items``:
                those and the comments, when comments are on). The decoder
                then stays failed.
        """
        if self._failed is not None:
            raise EventTooLarge(
                f"the decoder failed earlier ({self._failed}); make a new one",
                limit=self._max,
            )
        if type(data) is not bytes:
            # (memoryview: bytes(5) would be five NULs, bytes([..]) a copy
            # of a list; only the buffer protocol is a chunk.)
            data = bytes(memoryview(data))
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

        limit = self._max
        if data[-1] == 13:
            # A CR at the very end ends its line; an LF that starts the next
            # chunk belongs to it. Written as CRLF here, the line loses both
            # bytes like any CRLF line.
            self._pending_cr = True
            data += b"\n"
        if _LF not in data and _CR not in data:  # still inside the same line
            pieces = self._tail
            if len(pieces) < _TAIL_PIECES or len(data) >= _SMALL_PIECE:
                pieces.append(data)
            elif type(pieces[-1]) is bytearray:
                pieces[-1] += data
            else:
                pieces.append(bytearray(data))
            self._tail_size += len(data)
            if self._tail_size > limit:
                self._fail_line([])
            return []
        # The chunk is split as it came, not joined to what came before:
        # that copy would touch every byte once more. (The unfinished line
        # holds no CR, see _keep_tail.)
        held = self._held
        pieces = self._tail
        cr = self._held_cr or _CR in data
        size = len(data) + self._tail_size + self._held_size
        if held:
            self._held = []
            self._held_size = 0
            self._held_cr = False
        if pieces:
            self._tail = []
            self._tail_size = 0
        if cr and size > limit:
            # Lines may break the limit; splitlines finds them all.
            return self._feed_oversized(b"".join([*held, *pieces, data]))
        # BytesIO finds LFs with memchr: the cheapest split there is. Every
        # line keeps its LF; the last one is unfinished unless the chunk
        # ends with LF.
        lines = BytesIO(data).readlines()
        if pieces:
            lines[0] = b"".join([*pieces, lines[0]])
        if held:
            lines[:0] = held
        tail = b"" if data[-1] == 10 else lines.pop()
        if cr and _CR in tail:
            # Lines that a lone CR ended inside the unfinished one: written
            # as CRLF lines (the CR is not the last byte of the chunk, so no
            # LF can follow it).
            *ended, tail = tail.split(b"\r")
            lines += [line + b"\r\n" for line in ended]

        events: list[Any] = []
        if size > limit:
            # Only a chunk (with what it continues) longer than the limit can
            # hold a line that breaks it: check its lines then (no CR here,
            # see above).
            for index, line in enumerate(lines):
                if len(line) - 1 > limit:
                    self._process(lines[:index], events, False)
                    self._fail_line(events)
        # Hold back the complete lines of the unfinished event (usually one
        # or two), so that the next chunk starts at an event boundary where
        # the fast path works, unless there are many, they are large, or
        # one of them takes effect at once: a retry, a blank line that a
        # lone CR makes inside the line, or data that takes the event past
        # the limit (counted from the event's data so far when the chunk
        # holds no blank line, and from the held lines' whole size).
        end = len(lines)
        while end and lines[end - 1] != _BLANK_LF and lines[end - 1] != _BLANK_CRLF:
            end -= 1
        if end < len(lines):
            joined = b"".join(lines[end:])
            if (
                len(lines) - end <= _HOLD_LINES
                and len(joined) + len(tail) + (0 if end else self._data_size) <= limit
                # (anywhere in the lines, to keep it cheap: holding is only
                # an optimisation)
                and joined.find(b"retry") < 0
                and (not cr or joined.count(b"\r") == joined.count(b"\r\n"))
                # (a comment is reported when it arrives, not with the next chunk)
                and not (self._comments and _has_comment(lines, end))
            ):
                self._held = lines[end:]
                self._held_size = len(joined)
                self._held_cr = cr and _CR in joined
                del lines[end:]
        self._process(lines, events, cr)
        self._keep_tail(tail, events)
        return events

    def _process(self, lines: list[bytes], events: list[Any], cr: bool) -> None:
        # Applies the standard's rules to complete lines, each still ending
        # with LF, in order. ``cr`` is True when the chunk holds a CR: then a
        # line may end with CRLF, or hold lines that a lone CR ended.
        #
        # Chat streams repeat one shape, "id: X" / "event: T" / "data: D" /
        # "" (or with the event line first). At an event boundary (no event
        # in progress) _bulk takes as many windows of exactly that shape as
        # follow, with list slicing and C-level checks over the columns
        # rather than Python work per line. For such a window the shortcut
        # gives exactly what the general rules give. Any other line goes
        # through the general rules, one at a time, until the decoder is at
        # a boundary again. Every line is handled once.
        rule = self._line
        cr_rule = self._cr_line
        n = len(lines)
        pos = 0
        while pos < n:
            if not self._data and self._type is None and self._event_retry is None:
                after = self._bulk(lines, pos, n, events, cr)
                n = len(lines)  # (_bulk may drop lines that change nothing)
                if after != pos:
                    pos = after
                    continue
            if cr:
                cr_rule(lines[pos], events)
            else:
                rule(lines[pos][:-1], events)
            pos += 1

    def _bulk(self, lines: list[bytes], pos: int, n: int, events: list[Any], cr: bool) -> int:
        # The chat-shaped windows of four lines from ``pos`` (at a boundary),
        # at most _RUN of them, all with the first window's blank line (LF
        # or CRLF): makes their events and returns the index of the first
        # line after them (``pos`` itself when the first window is not of
        # that shape).
        if pos + 4 > n:
            return pos
        blank = lines[pos + 3]
        if (blank != _BLANK_LF and blank != _BLANK_CRLF) or not lines[pos + 2].startswith(
            b"data: "
        ):
            return pos
        if lines[pos].startswith(b"id: "):
            id_at, type_at = pos, pos + 1
        elif lines[pos + 1].startswith(b"id: "):
            id_at, type_at = pos + 1, pos
        else:
            return pos
        # The first window alone, before a whole run is sliced, when the
        # type line is new, its id holds NUL or the last run stopped at a
        # line end that did not qualify: so a stream whose windows never
        # qualify costs a few checks per event.
        if lines[type_at] not in self._line_types or _NUL in lines[id_at]:
            return pos
        if cr and self._unclean and not _clean_window(lines[pos + 2], lines[id_at], blank):
            return pos
        # Each window ends with the same blank line; the run ends before the
        # first window that does not (the first one does), unless that window
        # starts with a comment and a blank line. Right after a blank line,
        # those two change nothing (the first blank line has dispatched and
        # reset the event), so they are dropped and the run goes on: a
        # keepalive does not cost a new run.
        while True:
            windows = (n - pos) // 4  # (not min(): it parses keywords on every call)
            stop = pos + 4 * (windows if windows < _RUN else _RUN)
            blanks = lines[pos + 3 : stop : 4]
            if blanks.count(blank) == len(blanks):
                break
            bad = pos + 4 * next(compress(count(), map(ne, blanks, repeat(blank))))
            if n - bad > _SHIFT_LINES or self._comments or not _keepalive_at(lines, bad, cr):
                stop = bad
                break
            del lines[bad : bad + 2]
            n -= 2
        datas = lines[pos + 2 : stop : 4]
        ids = lines[id_at:stop:4]
        type_lines = lines[type_at:stop:4]
        k = len(datas)
        joined_ids = b"".join(ids)
        # A line starts with "data: " exactly when it sorts between "data: "
        # and "data:!" (the next byte after the space), so min and max check
        # a whole column in C. The id lines are short: joined, each but the
        # first starts where "\nid: " occurs (every line ends with its only
        # LF), and one count checks them all.
        if not (
            min(datas) >= b"data: "
            and max(datas) < b"data:!"
            and joined_ids.count(b"\nid: ") == k - 1
        ):
            k = 1  # the first window passed both tests
            while datas[k].startswith(b"data: ") and ids[k].startswith(b"id: "):
                k += 1
            del type_lines[k:]
        if _NUL in joined_ids:
            # An id holding NUL leaves the ID buffer as it was: the general
            # rules take that window. (Checked here, in the short id lines,
            # rather than over every chunk; the first window's was checked
            # above.)
            first = next(index for index, line in enumerate(ids) if _NUL in line)
            if first < k:
                k = first
                del type_lines[k:]
        etypes: Iterable[str]
        if type_lines.count(_MESSAGE_LF if len(blank) == 1 else _MESSAGE_CRLF) == k:
            etypes = repeat("message", k)
        else:
            # Types seen before are cached by their whole line; the run
            # ends before a type line the general rules have not seen.
            known = list(map(self._line_types.get, type_lines))
            if None in known:
                k = known.index(None)
                if not k:
                    return pos
            etypes = cast("list[str]", known)
        if k < len(datas):
            del datas[k:], ids[k:]
            if cr:  # (only _clean_windows reads it again)
                joined_ids = b"".join(ids)
        values: Iterable[bytes] = map(_data_value if len(blank) == 1 else _data_value_crlf, datas)
        if cr:
            values = list(values)
            # Only in a chunk with a CR can a data or id line end otherwise
            # than its window's blank line, or hold a lone CR that ends a
            # line inside it; the run ends before the first such window.
            clean = _clean_windows(datas, ids, joined_ids, values, blank)
            self._unclean = clean < k
            k = clean
            if not k:
                return pos
            del values[k:]
        # The events are made in C, then filled in. made and values have k
        # items; ids and etypes may have more, and zip stops at the shortest.
        made = list(map(_new_event, repeat(ServerSentEvent, k)))
        for event, data, id_line, etype in zip(made, values, ids, etypes):  # noqa: B905 - strict= costs a keyword parse
            event._data_bytes = data
            event._event = etype
            event._id_line = id_line
            event._retry = None
        events += made
        self._id_line = self._last_id_line = ids[k - 1]
        return pos + 4 * k
