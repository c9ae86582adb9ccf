"""The value object that the decoder dispatches."""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar

__all__ = ["Comment", "ServerSentEvent"]


class ServerSentEvent:
    """One dispatched Server-Sent Event: immutable, slotted, compared by value.

    Its attributes are read-only.

    Attributes:
        event: the event type; ``"message"`` when the stream gave no
            ``event`` field.
        data: the event's data as text (its ``data`` lines joined with LF),
            decoded from UTF-8 with invalid sequences replaced by U+FFFD.
            Decoded on first access and cached.
        data_bytes: the same data as the raw bytes of the stream, with no
            UTF-8 round trip; hand this to a JSON decoder on the hot path.
        id: the stream's last event ID at the moment of dispatch (it persists
            across events until an ``id`` field changes it), ``""`` if none.
        retry: the reconnection time in milliseconds set by a valid
            ``retry`` field inside this event's block, else ``None``. The
            decoder's own ``retry`` attribute holds the stream's current
            value, including ``retry`` fields in blocks that dispatched
            nothing.

    Construct one with keywords, e.g. for tests or to feed an encoder:

        ServerSentEvent(event="typing", data="{}", id="msg_1")

    ``id`` must not hold CR or LF (``ValueError``): no stream can set one.
    """

    # The decoder builds instances without calling __init__ (see _decoder.py):
    # it sets these private slots directly, which keeps event creation cheap.
    # ``_id_line`` is the raw ``id: VALUE`` line with its line end, LF or
    # CRLF (always that exact prefix; see _id_line() and _id_key()), decoded
    # only when ``id`` is read: most consumers never read it.
    # ``_data`` is left unset until ``data`` is first read.
    __slots__ = ("_data", "_data_bytes", "_event", "_id_line", "_retry")

    _data: str
    _data_bytes: bytes
    _event: str
    _id_line: bytes
    _retry: int | None

    def __init__(
        self,
        *,
        event: str = "message",
        data: str = "",
        id: str = "",  # noqa: A002 - the SSE field is called id
        retry: int | None = None,
    ) -> None:
        if not isinstance(event, str) or not isinstance(data, str) or not isinstance(id, str):
            raise TypeError("event, data and id must be str")
        if retry is not None:
            if type(retry) is not int:
                raise TypeError("retry must be an int or None")
            if retry < 0:
                raise ValueError("retry must not be negative")
        if "\r" in id or "\n" in id:
            # No stream can dispatch such an ID (a line end ends the field).
            raise ValueError("id must not hold CR or LF")
        self._event = event
        self._data = data
        self._data_bytes = _utf8(data, "data")
        self._id_line = _id_line(id)
        self._retry = retry

    @property
    def data(self) -> str:
        """The data as text; see the class docstring."""
        try:
            return self._data
        except AttributeError:
            text = self._data_bytes.decode("utf-8", "replace")
            self._data = text
            return text

    @property
    def id(self) -> str:
        """The last event ID at dispatch time."""
        return _id_text(self._id_line)

    # The plain attributes are properties whose getter is C (attrgetter):
    # no Python frame per read, which matters on the hot path where every
    # event's data_bytes goes to a JSON decoder (about 200 instructions and
    # a fifth of the instruction-cache misses per event, by cachegrind).
    if TYPE_CHECKING:

        @property
        def event(self) -> str:
            """The event type (``"message"`` by default)."""

        @property
        def data_bytes(self) -> bytes:
            """The data as the stream's raw bytes."""

        @property
        def retry(self) -> int | None:
            """The reconnection time set inside this event's block, if any."""

    else:
        event = property(attrgetter("_event"), doc='The event type (``"message"`` by default).')
        data_bytes = property(attrgetter("_data_bytes"), doc="The data as the stream's raw bytes.")
        retry = property(
            attrgetter("_retry"), doc="The reconnection time set inside this event's block, if any."
        )

    def _key(self) -> tuple[str, bytes, str, int | None]:
        return (self._event, self._data_bytes, self.id, self._retry)

    def __eq__(self, other: object) -> bool:
        if type(other) is not ServerSentEvent:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        parts = []
        if self._event != "message":
            parts.append(f"event={self._event!r}")
        if self._data_bytes:
            parts.append(f"data={self.data!r}")
        event_id = self.id
        if event_id:
            parts.append(f"id={event_id!r}")
        if self._retry is not None:
            parts.append(f"retry={self._retry!r}")
        return f"ServerSentEvent({', '.join(parts)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, self._key())


def _rebuild(event: str, data_bytes: bytes, id: str, retry: int | None) -> ServerSentEvent:  # noqa: A002
    ev = ServerSentEvent.__new__(ServerSentEvent)
    ev._event = event
    ev._data_bytes = data_bytes
    ev._id_line = _id_line(id)
    ev._retry = retry
    return ev


def _id_line(id: str, what: str = "id") -> bytes:  # noqa: A002
    """The form in which events and decoders keep an ID: ``b"id: VALUE\\n"``.

    The decoder also keeps raw ID lines that end with CRLF,
    ``b"id: VALUE\\r\\n"`` (and hold no other CR).
    """
    return b"id: " + _utf8(id, what) + b"\n"


def _utf8(text: str, what: str) -> bytes:
    """``text`` as UTF-8; a lone surrogate (which UTF-8 cannot hold) is a
    ValueError that says which argument held it."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode (it holds a lone surrogate)") from None


def _id_key(line: bytes) -> bytes:
    """An ID line in the LF form, for comparing IDs without decoding them."""
    return line[:-2] + b"\n" if line[-2] == 13 else line


def _id_text(line: bytes) -> str:
    """The ID an ID line holds."""
    return line[4 : -2 if line[-2] == 13 else -1].decode("utf-8", "replace")


class Comment:
    """One comment line of the stream (``: text``), as reported by a decoder
    made with ``comments=True``: immutable, slotted, compared by value.

    Attributes:
        text: the line after its colon, with one leading space removed
            (as for a field's value), decoded from UTF-8 with invalid
            sequences replaced. ``:`` gives ``""``, ``: ping`` and ``:ping``
            give ``"ping"``. It never holds CR or LF.

    Servers send comments as keepalives; the standard says to ignore them,
    and the decoder does unless asked.
    """

    __slots__ = ("_text",)

    _text: str
    # The streams' consumers tell items apart by ``_event`` (a message
    # stream takes the "message" ones); a comment's is "", which no event's
    # type can be (an empty ``event`` field means "message").
    _event: ClassVar[str] = ""

    def __init__(self, text: str = "") -> None:
        if not isinstance(text, str):
            raise TypeError("text must be a str")
        if "\r" in text or "\n" in text:
            raise ValueError("a comment's text must not hold CR or LF")
        self._text = text

    if TYPE_CHECKING:

        @property
        def text(self) -> str:
            """The comment's text, without its colon and one leading space."""

    else:
        text = property(
            attrgetter("_text"), doc="The comment's text, without its colon and one leading space."
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not Comment:
            return NotImplemented
        return self._text == other._text

    def __hash__(self) -> int:
        return hash((Comment, self._text))

    def __repr__(self) -> str:
        return f"Comment({self._text!r})" if self._text else "Comment()"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Comment, (self._text,))


def _comment(line: bytes) -> Comment:
    """The Comment of a comment line (without its line end), made without
    __init__'s checks: a line holds no CR or LF."""
    comment = Comment.__new__(Comment)
    value = line[2:] if line[1:2] == b" " else line[1:]
    comment._text = value.decode("utf-8", "replace")
    return comment


ServerSentEvent.__module__ = "expys_stream.sse"
Comment.__module__ = "expys_stream.sse"
