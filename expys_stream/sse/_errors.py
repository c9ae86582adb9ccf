"""The root of the library's exception hierarchy, and the codec's own errors.

The codec is meant to be usable alone (even vendored into another library),
so the hierarchy's root lives here, beside the one error the codec raises,
and imports nothing outside the standard library. ``expys_stream._errors``
builds the rest of the tree on top of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from ._event import Comment, ServerSentEvent

__all__ = ["EventTooLarge", "ExpysError", "ProtocolError"]


class ExpysError(Exception):
    """Base class of every exception that ``expys_stream`` raises on purpose.

    Catch this to handle any failure of the library in one place. Errors
    never carry a credential: neither their message nor their attributes
    include a token.
    """


class ProtocolError(ExpysError):
    """The peer broke the wire protocol (the SSE format or docs/protocol.md)."""


class EventTooLarge(ProtocolError):
    """An event or a line outgrew the decoder's ``max_event_size``.

    The decoder raises this from [`SSEDecoder.feed`][expys_stream.SSEDecoder.feed] as soon as a
    single line (without its terminator), or one event's data (its ``data`` lines joined with LF),
    is longer than ``limit`` bytes. Nothing of the offending input is kept, and the decoder stays
    failed: every later ``feed`` raises again.

    Attributes:
        limit: the ``max_event_size`` that was exceeded, in bytes.
        events: the events that the failing ``feed`` call completed before
            the limit was reached, in order, so that nothing already decoded
            is lost. Empty when raised again by a failed decoder.
        items: the same events with the comments among them, for a
            decoder made with ``comments=True``; else the same list as
            ``events``.
    """

    limit: int
    events: list[ServerSentEvent]
    items: list[ServerSentEvent | Comment]

    def __init__(
        self, message: str, *, limit: int, events: list[ServerSentEvent] | None = None
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.events = [] if events is None else events
        self.items = cast("list[ServerSentEvent | Comment]", self.events)


for _cls in (ExpysError, ProtocolError, EventTooLarge):
    _cls.__module__ = "expys_stream"
del _cls
