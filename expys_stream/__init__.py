"""expys_stream: a conversation's chat messages, live, over Server-Sent Events.

The public API is exactly what this module exports (``__all__``); everything
in a module whose name starts with an underscore is private. Names are
loaded lazily, so ``import expys_stream`` stays cheap and importing the
codec, :mod:`expys_stream.sse`, loads nothing beyond the standard library.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ._client import Client as Client
    from ._client import open_message_stream as open_message_stream
    from ._connection_events import Connected as Connected
    from ._connection_events import Connecting as Connecting
    from ._connection_events import Disconnected as Disconnected
    from ._connection_events import GaveUp as GaveUp
    from ._connection_events import LifecycleEvent as LifecycleEvent
    from ._connection_events import Retrying as Retrying
    from ._connection_events import StreamState as StreamState
    from ._errors import AuthenticationError as AuthenticationError
    from ._errors import ConnectError as ConnectError
    from ._errors import ConversationNotFoundError as ConversationNotFoundError
    from ._errors import EventTooLarge as EventTooLarge
    from ._errors import ExpysError as ExpysError
    from ._errors import HTTPStatusError as HTTPStatusError
    from ._errors import MessageDecodeError as MessageDecodeError
    from ._errors import NotAnEventStream as NotAnEventStream
    from ._errors import NotFoundError as NotFoundError
    from ._errors import PermissionDeniedError as PermissionDeniedError
    from ._errors import ProtocolError as ProtocolError
    from ._errors import ProxyError as ProxyError
    from ._errors import RateLimitedError as RateLimitedError
    from ._errors import ReadTimeout as ReadTimeout
    from ._errors import RedirectError as RedirectError
    from ._errors import RetryLimitExceeded as RetryLimitExceeded
    from ._errors import ServerError as ServerError
    from ._errors import StreamClosed as StreamClosed
    from ._errors import TLSVerificationError as TLSVerificationError
    from ._errors import TransportError as TransportError
    from ._event_stream import EventItemStream as EventItemStream
    from ._event_stream import EventStream as EventStream
    from ._event_stream import TokenSource as TokenSource
    from ._event_stream import open_event_stream as open_event_stream
    from ._event_stream import open_item_stream as open_item_stream
    from ._lifecycle import Observer as Observer
    from ._lifecycle import StreamStats as StreamStats
    from ._message_stream import MessageStream as MessageStream
    from ._models import Message as Message
    from ._models import MessagePage as MessagePage
    from ._options import ClientOptions as ClientOptions
    from ._options import EventStreamOptions as EventStreamOptions
    from ._policy import RetryReason as RetryReason
    from ._stream_parts import StreamItem as StreamItem
    from .sse import Comment as Comment
    from .sse import ServerSentEvent as ServerSentEvent
    from .sse import SSEDecoder as SSEDecoder

_ERRORS = (
    "AuthenticationError",
    "ConnectError",
    "ConversationNotFoundError",
    "EventTooLarge",
    "ExpysError",
    "HTTPStatusError",
    "MessageDecodeError",
    "NotAnEventStream",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "ProxyError",
    "RateLimitedError",
    "ReadTimeout",
    "RedirectError",
    "RetryLimitExceeded",
    "ServerError",
    "StreamClosed",
    "TLSVerificationError",
    "TransportError",
)

# public name -> the module that defines it
_LAZY = {
    **dict.fromkeys(_ERRORS, "._errors"),
    "Client": "._client",
    "open_message_stream": "._client",
    "Connected": "._connection_events",
    "Connecting": "._connection_events",
    "Disconnected": "._connection_events",
    "GaveUp": "._connection_events",
    "LifecycleEvent": "._connection_events",
    "Retrying": "._connection_events",
    "StreamState": "._connection_events",
    "EventItemStream": "._event_stream",
    "EventStream": "._event_stream",
    "TokenSource": "._event_stream",
    "open_event_stream": "._event_stream",
    "open_item_stream": "._event_stream",
    "Observer": "._lifecycle",
    "StreamStats": "._lifecycle",
    "MessageStream": "._message_stream",
    "RetryReason": "._policy",
    "StreamItem": "._stream_parts",
    "Comment": ".sse",
    "Message": "._models",
    "MessagePage": "._models",
    "ClientOptions": "._options",
    "EventStreamOptions": "._options",
    "SSEDecoder": ".sse",
    "ServerSentEvent": ".sse",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'expys_stream' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
