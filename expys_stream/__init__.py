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
    from ._errors import EventTooLarge as EventTooLarge
    from ._errors import ExpysError as ExpysError
    from ._errors import ProtocolError as ProtocolError
    from .sse import ServerSentEvent as ServerSentEvent
    from .sse import SSEDecoder as SSEDecoder

# public name -> the module that defines it
_LAZY = {
    "EventTooLarge": "._errors",
    "ExpysError": "._errors",
    "ProtocolError": "._errors",
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
