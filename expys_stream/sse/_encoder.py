"""Writing the ``text/event-stream`` format, for servers and tests."""

from __future__ import annotations

from ._decoder import MAX_RETRY
from ._event import _utf8

__all__ = ["encode_comment", "encode_event"]


def _split_lines(text: str) -> list[str]:
    # str.splitlines would also split on VT, FF, U+2028 and friends, which
    # SSE treats as ordinary characters: split on CRLF, CR and LF only.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def encode_event(
    data: str | bytes,
    *,
    event: str | None = None,
    id: str | None = None,  # noqa: A002 - the SSE field is called id
    retry: int | None = None,
) -> bytes:
    """Encode one event, ready to write to a ``text/event-stream`` response.

    ``data`` may span several lines (split at CRLF, CR or LF); each becomes
    its own ``data:`` line, and a decoder joins them back with LF. Bytes
    data must be UTF-8. The result always ends with the blank line that
    dispatches the event, so decoding it gives back exactly this event
    (with line breaks in ``data`` normalised to LF).

    Args:
        data: the event's data.
        event: the event type; omitted (so ``"message"``) when None.
        id: the event ID; ``""`` clears the stream's last event ID.
        retry: a reconnection time in milliseconds to announce.

    Raises:
        ValueError: ``id`` holds CR, LF or NUL, ``event`` holds CR or LF,
            ``data`` bytes are not UTF-8, text holds a lone surrogate (which
            UTF-8 cannot hold), or ``retry`` is negative or above
            [`MAX_RETRY`][expys_stream.sse.MAX_RETRY]. Such values cannot be encoded faithfully.
        TypeError: an argument has the wrong type.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("data bytes must be valid UTF-8") from None
    elif isinstance(data, str):
        text = data
    else:
        raise TypeError(f"data must be str or bytes, not {type(data).__name__}")
    out: list[str] = []
    # id, event, retry, data: the order of docs/protocol.md's example (SSE gives
    # the order no meaning; decoders have a fast path for this one).
    if id is not None:
        _check_str("id", id)
        if "\r" in id or "\n" in id or "\0" in id:
            raise ValueError("id must not contain CR, LF or NUL")
        out.append(f"id: {id}\n" if id else "id\n")
    if event is not None:
        _check_str("event", event)
        if "\r" in event or "\n" in event:
            raise ValueError("event must not contain CR or LF")
        out.append(f"event: {event}\n")
    if retry is not None:
        if type(retry) is not int:
            raise TypeError("retry must be an int")
        if not 0 <= retry <= MAX_RETRY:
            raise ValueError(f"retry must be between 0 and {MAX_RETRY}")
        out.append(f"retry: {retry}\n")
    for line in _split_lines(text):
        out.append(f"data: {line}\n")
    out.append("\n")
    return _utf8("".join(out), "data, event or id")


def encode_comment(text: str = "") -> bytes:
    """Encode a comment (``: text``), which decoders ignore; e.g. a keepalive.

    Multi-line text becomes one comment line per line.

    Raises:
        TypeError: ``text`` is not a str.
        ValueError: ``text`` holds a lone surrogate.
    """
    _check_str("text", text)
    lines = (f": {line}\n" if line else ":\n" for line in _split_lines(text))
    return _utf8("".join(lines), "text")


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
