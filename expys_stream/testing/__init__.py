"""The embedded concierge: a real HTTP/1.1 and HTTP/2 server for docs/protocol.md, for tests.

* :func:`serve_concierge` runs it in your event loop (asyncio or trio):
  ``async with serve_concierge() as server: ...``.
* :class:`ConciergeThread` runs it in a background thread, for sync code:
  ``with ConciergeThread() as server: ...``.
* ``server.faults`` (:class:`Faults`) injects failures into the next
  request(s): drops, stalls, error statuses, malformed events.
* The ``concierge`` pytest fixture (this package's pytest plugin) gives each
  test a fresh server in a thread; see ``docs/testing.md``.

Names load lazily, so importing this package (as the pytest plugin does in
every test run) loads neither anyio nor h11.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._faults import Faults as Faults
    from ._hub import ConnectionInfo as ConnectionInfo
    from ._server import ConciergeServer as ConciergeServer
    from ._server import RecordedRequest as RecordedRequest
    from ._server import serve_concierge as serve_concierge
    from ._thread import ConciergeThread as ConciergeThread

# public name -> the module that defines it
_LAZY = {
    "ConciergeServer": "._server",
    "ConciergeThread": "._thread",
    "ConnectionInfo": "._hub",
    "Faults": "._faults",
    "RecordedRequest": "._server",
    "serve_concierge": "._server",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'expys_stream.testing' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
