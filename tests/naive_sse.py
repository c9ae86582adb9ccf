"""A deliberately naive reference decoder for ``text/event-stream``.

Written straight from the prose of the WHATWG HTML standard, section
"Interpreting an event stream", in the order the standard describes things,
with no speed tricks: the whole stream is decoded as UTF-8 first (one leading
BOM dropped, invalid sequences replaced), then split into lines one character
at a time, then each line is interpreted with the field rules. It only takes
a complete byte string, so it cannot have chunking bugs of its own.

The property tests compare ``SSEDecoder`` against it. It also knows the two
size limits that ``SSEDecoder`` documents (they are ours, not the
standard's), so that streams which break a limit can be compared too: a line
longer than ``max_event_size`` bytes (without its terminator, the unfinished
last line included), or an event whose data lines joined with LF grow past
``max_event_size`` bytes, ends the stream with an error; the events
dispatched before that line are still delivered. (Limits below 3 are not
modelled: a stream's first bytes may be a BOM still arriving, which no
streaming decoder can count as a line yet.)

At the end, ``run_decoder`` feeds the real ``SSEDecoder`` and reports the
same ``Outcome``, so that the tests can compare the two with ``key()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise

from expys_stream.sse import Comment, EventTooLarge, ServerSentEvent, SSEDecoder

#: Our clamp for ``retry`` values (the standard has none); the tests check
#: that it matches ``expys_stream.sse.MAX_RETRY``.
MAX_RETRY = 2**63 - 1

#: (type, data, id, retry) of one dispatched event.
EventTuple = tuple[str, str, str, int | None]

_BOM = b"\xef\xbb\xbf"
_DIGITS = "0123456789"


@dataclass
class Outcome:
    """What a whole stream leaves behind."""

    events: list[EventTuple] = field(default_factory=list)
    last_event_id: str = ""
    retry: int | None = None
    too_large: bool = False  # a size limit was broken (the stream ends there)
    # With comments asked for: the events and the comments' texts (str), in
    # the order their lines completed.
    items: list[EventTuple | str] = field(default_factory=list)

    def key(self) -> tuple[object, ...]:
        """What must agree between two runs: after an error, only the events
        delivered before it and the fact of the error."""
        if self.too_large:
            return (self.events, True)
        return (self.events, self.last_event_id, self.retry, False)


def split_lines(text: str) -> tuple[list[str], str]:
    """Split ``text`` into complete lines and the unterminated rest.

    "a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single
    U+000A LINE FEED (LF) character not preceded by a U+000D CARRIAGE RETURN
    (CR) character, and a single U+000D CARRIAGE RETURN (CR) character not
    followed by a U+000A LINE FEED (LF) character being the ways in which a
    line can end." A CR at the very end of the stream is not followed by LF,
    so it ends a line.
    """
    lines: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\r":
            lines.append("".join(current))
            current = []
            if index + 1 < len(text) and text[index + 1] == "\n":
                index += 1  # the LF of a CRLF pair belongs to this line end
        elif char == "\n":
            lines.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    return lines, "".join(current)


def parse_field(line: str) -> tuple[str, str]:
    """The field name and value of a non-blank, non-comment line."""
    colon = line.find(":")
    if colon == -1:
        # "the string is not empty but does not contain a U+003A COLON
        # character (:)": the whole line is the field name, the value is empty.
        return line, ""
    name = line[:colon]
    value = line[colon + 1 :]
    if value[:1] == " ":  # "If value starts with a U+0020 SPACE character, remove it"
        value = value[1:]
    return name, value


def decode(
    stream: bytes,
    *,
    last_event_id: str = "",
    max_event_size: int | None = None,
    comments: bool = False,
) -> Outcome:
    """Interpret a complete stream and report what it dispatched."""
    # "One leading U+FEFF BYTE ORDER MARK character must be ignored if any
    # are present": only one, and only at the very start.
    if stream[:3] == _BOM:
        stream = stream[3:]
    text = stream.decode("utf-8", errors="replace")
    lines, _ = split_lines(text)
    # The same split over the raw bytes (one latin-1 character per byte)
    # measures lines in bytes for the size limits. CR and LF are never part
    # of a UTF-8 sequence, nor swallowed by a replacement, so both splits
    # find the same line ends.
    raw_lines, raw_rest = split_lines(stream.decode("latin-1"))
    assert len(raw_lines) == len(lines)

    out = Outcome(last_event_id=last_event_id)
    id_buffer = last_event_id
    type_buffer = ""
    data_buffer = ""
    data_size = -1  # bytes of the data lines joined with LF; -1: no data line yet
    block_retry: int | None = None

    for line, raw in zip(lines, raw_lines, strict=True):
        if max_event_size is not None and len(raw) > max_event_size:
            out.too_large = True
            return out
        if line == "":
            # Dispatch. "Set the last event ID string of the event source to
            # the value of the last event ID buffer", even if nothing is
            # dispatched after all.
            out.last_event_id = id_buffer
            if data_buffer != "":
                # "If the data buffer's last character is a U+000A LINE FEED
                # (LF) character, then remove the last character"
                data = data_buffer[:-1] if data_buffer.endswith("\n") else data_buffer
                # "If the event type buffer has a value other than the empty
                # string" it names the event, else the type is "message".
                out.events.append((type_buffer or "message", data, id_buffer, block_retry))
                if comments:
                    out.items.append(out.events[-1])
            # "If the data buffer is an empty string, set the data buffer and
            # the event type buffer to the empty string and return."
            data_buffer = ""
            data_size = -1
            type_buffer = ""
            block_retry = None
            continue
        if line.startswith(":"):
            if comments:
                # Ours, not the standard's (which ignores the line): the text
                # after the colon, one leading space removed as for a value.
                text = line[1:]
                out.items.append(text[1:] if text[:1] == " " else text)
            continue  # a comment
        name, value = parse_field(line)
        if name == "event":
            type_buffer = value
        elif name == "data":
            # "Append the field value to the data buffer, then append a
            # single U+000A LINE FEED (LF) character to the data buffer."
            data_buffer += value + "\n"
            _, raw_value = parse_field(raw)
            data_size += len(raw_value) + 1
            if max_event_size is not None and data_size > max_event_size:
                out.too_large = True
                return out
        elif name == "id":
            # "If the field value does not contain U+0000 NULL, then set the
            # last event ID buffer to the field value. Otherwise, ignore the
            # field."
            if "\0" not in value:
                id_buffer = value
        elif name == "retry" and value and all(char in _DIGITS for char in value):
            # "If the field value consists of only ASCII digits, then
            # interpret the field value as an integer in base ten, and set the
            # event stream's reconnection time to that integer. Otherwise,
            # ignore the field." (str.isdigit would accept other digits.)
            block_retry = out.retry = _clamp_retry(value)
        # "Otherwise: The field is ignored."

    # "Once the end of the file is reached, any pending data must be
    # discarded." Only the unfinished line's size can still matter.
    if max_event_size is not None and len(raw_rest) > max_event_size:
        out.too_large = True
    return out


def _clamp_retry(digits: str) -> int:
    significant = digits.lstrip("0")
    if len(significant) > 19:  # at least 10**19, above MAX_RETRY
        return MAX_RETRY
    return min(int(significant or "0"), MAX_RETRY)


# --- The decoder under test, seen through the same Outcome -----------------


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given positions (any order, repeats give empty chunks)."""
    points = sorted(min(max(cut, 0), len(data)) for cut in cuts)
    bounds = [0, *points, len(data)]
    return [data[start:end] for start, end in pairwise(bounds)]


def as_tuple(event: ServerSentEvent) -> EventTuple:
    """(type, data, id, retry) of a dispatched event."""
    return (event.event, event.data, event.id, event.retry)


def as_item(item: ServerSentEvent | Comment) -> EventTuple | str:
    """An event as its tuple, a comment as its text."""
    return item.text if isinstance(item, Comment) else as_tuple(item)


def run_decoder(
    chunks: Iterable[bytes],
    *,
    last_event_id: str = "",
    max_event_size: int | None = None,
    comments: bool = False,
) -> Outcome:
    """Feed ``chunks`` to a new SSEDecoder; stop at EventTooLarge.

    Any other exception escapes, which fails the calling test.
    """
    size = {} if max_event_size is None else {"max_event_size": max_event_size}
    decoder = SSEDecoder(last_event_id=last_event_id, comments=comments, **size)
    out = Outcome()

    def take(items: list[ServerSentEvent | Comment]) -> None:
        if comments:
            out.items.extend(map(as_item, items))
        out.events.extend(as_tuple(item) for item in items if isinstance(item, ServerSentEvent))

    try:
        for chunk in chunks:
            take(decoder.feed(chunk))
    except EventTooLarge as exc:
        take(exc.items)
        out.too_large = True
    out.last_event_id = decoder.last_event_id
    out.retry = decoder.retry
    return out
