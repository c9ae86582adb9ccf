"""A sans-IO codec for Server-Sent Events (``text/event-stream``).

Standard library only: importing this package loads neither anyio, httpcore
nor msgspec, so it can serve any transport or be used on its own.

* :class:`SSEDecoder` turns response bytes into :class:`ServerSentEvent`
  objects, conformant with the WHATWG HTML standard and bounded in memory.
* :class:`Comment` is a comment line, reported by a decoder made with
  ``comments=True`` (by default comments are dropped, as the standard says).
* :func:`encode_event` and :func:`encode_comment` write the format, for
  servers and tests.
"""

from ._decoder import DEFAULT_MAX_EVENT_SIZE as DEFAULT_MAX_EVENT_SIZE
from ._decoder import MAX_RETRY as MAX_RETRY
from ._decoder import SSEDecoder as SSEDecoder
from ._encoder import encode_comment as encode_comment
from ._encoder import encode_event as encode_event
from ._errors import EventTooLarge as EventTooLarge
from ._errors import ExpysError as ExpysError
from ._errors import ProtocolError as ProtocolError
from ._event import Comment as Comment
from ._event import ServerSentEvent as ServerSentEvent

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "MAX_RETRY",
    "Comment",
    "EventTooLarge",
    "ExpysError",
    "ProtocolError",
    "SSEDecoder",
    "ServerSentEvent",
    "encode_comment",
    "encode_event",
]
