"""The cheapest way for one task to wait for one wake-up, on either backend.

Two per-stream objects wait this way: the channel between a stream's reader
and its consumer, and an HTTP/2 stream's buffer. An idle stream keeps its
waiters parked for as long as it is idle, so what a parked waiter costs is
paid by every idle stream (docs/performance.md):

- an ``anyio.Event`` on asyncio is an ``asyncio.Event``, whose deque of
  waiters alone takes 760 bytes; a bare future of the loop takes 100;
- an ``anyio.Event`` on trio is a ``trio.Event`` with a set of waiting
  tasks, plus the frames of both ``wait()`` methods; parking the task
  itself (``trio.lowlevel.wait_task_rescheduled``) costs one closure.

:class:`Waiter` does either, picked once from the task that makes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from types import ModuleType
from typing import Any

__all__ = ["Waiter", "asyncio_loop"]

_trio_lowlevel: ModuleType | None = None  # imported at the first wait under trio


def _lowlevel() -> ModuleType:
    global _trio_lowlevel
    if _trio_lowlevel is None:
        import trio.lowlevel

        _trio_lowlevel = trio.lowlevel
    return _trio_lowlevel


def asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The loop of the running asyncio task; None under trio (no asyncio
    loop in the thread, or trio as a guest: no asyncio task)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return None
    return None if task is None else task.get_loop()


class Waiter:
    """One task waits in :meth:`wait` until another calls :meth:`wake`.

    A wake with nobody waiting is forgotten: callers check their own
    condition in a loop around ``wait()``. Cancelling the waiting task ends
    its wait (the next ``wait()`` parks afresh). Made on asyncio, it waits
    on a future of that loop; otherwise (trio) the waiting task is parked.
    """

    __slots__ = ("_loop", "_parked")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop
        # A future (asyncio) or the parked trio task; None: nobody waits.
        self._parked: Any = None

    @property
    def waiting(self) -> bool:
        """Whether a task waits now."""
        parked = self._parked
        if parked is None:
            return False
        return not parked.done() if isinstance(parked, asyncio.Future) else True

    def wait(self) -> Awaitable[Any]:
        """Wait for the next :meth:`wake` (await it; a cancellation point).

        A plain function that returns what to await (the future itself on
        asyncio, trio's own park on trio): a coroutine of ours in between
        would be one more frame kept alive by every idle stream.
        """
        loop = self._loop
        if loop is not None:
            future = self._parked
            if future is None or future.done():  # (done: cancelled with its waiter)
                future = self._parked = loop.create_future()
            return future  # type: ignore[no-any-return]
        lowlevel = _trio_lowlevel or _lowlevel()
        if self._parked is not None:
            raise RuntimeError("expys_stream: two tasks wait on one waiter")
        self._parked = lowlevel.current_task()
        # A bound method, not a closure: a closure and its cells would be
        # kept by every parked stream.
        return lowlevel.wait_task_rescheduled(self._abort)  # type: ignore[no-any-return]

    def _abort(self, _: object) -> Any:
        # trio cancels the parked task (a wake reschedules it first and then
        # no abort comes): nobody is left to resume.
        self._parked = None
        return (_trio_lowlevel or _lowlevel()).Abort.SUCCEEDED

    def wake(self) -> None:
        """Resume the waiting task, if any (synchronous; never raises)."""
        parked = self._parked
        if parked is None:
            return
        self._parked = None
        if isinstance(parked, asyncio.Future):
            if not parked.done():
                parked.set_result(None)
        else:
            (_trio_lowlevel or _lowlevel()).reschedule(parked)
