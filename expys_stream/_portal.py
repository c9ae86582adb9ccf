"""The event-loop thread behind :mod:`expys_stream.sync`.

One process-wide anyio blocking portal (an asyncio loop in a daemon thread
named ``expys_stream-sync``) runs every sync client and stream. Each user
of it takes a lease: a :class:`expys_stream.sync.Client` from its first
request until ``close()``, a stream from ``__enter__`` to ``__exit__``. The
first lease starts the thread; giving back the last one stops the loop and
joins the thread, so a program that closed everything has no thread of ours
left. After ``os.fork()`` the child starts afresh: the parent's thread does
not exist there, and its leases are forgotten.

The caller's thread waits for the loop with :func:`wait`, in slices, so that
a signal (Ctrl-C) interrupts the wait at once on POSIX and within a slice
elsewhere; a task whose wait was interrupted is cancelled.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager, suppress
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._event_stream import TokenSource

__all__ = ["Lease", "call", "check_thread", "lease", "sync_token", "wait"]

_T = TypeVar("_T")

#: Longest single wait of the caller's thread: a signal that does not
#: interrupt a lock wait (not POSIX) is seen within this many seconds.
_SLICE = 0.25
THREAD_NAME = "expys_stream-sync"


class _Shared:
    """The process's portal and its lease count (all under one lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.leases = 0
        self.generation = 0  # bumped each time a portal starts, and at fork
        self.manager: AbstractContextManager[BlockingPortal] | None = None
        self.portal: BlockingPortal | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def forget(self) -> None:
        # In a forked child: the parent's loop thread is not there. Its
        # portal manager is kept, never finalised: closing it would wait
        # for that thread forever.
        if self.manager is not None:
            _orphans.append(self.manager)
        self.lock = threading.Lock()
        self.leases = 0
        self.generation += 1
        self.manager = self.portal = self.loop = None


_shared = _Shared()
_orphans: list[object] = []  # portal managers of a parent process (see forget)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_shared.forget)


class Lease:
    """One user's hold on the shared portal; :meth:`release` gives it back once.

    ``loop`` is the portal's asyncio loop, for ``call_soon_threadsafe``: a
    wake-up that, unlike a portal call, does not wait for the loop.
    """

    __slots__ = ("_generation", "_released", "loop", "portal")

    def __init__(
        self, portal: BlockingPortal, loop: asyncio.AbstractEventLoop, generation: int
    ) -> None:
        self.portal = portal
        self.loop = loop
        self._generation = generation
        self._released = False

    @property
    def valid(self) -> bool:
        """False once released, or in a child process forked after it was taken."""
        return not self._released and self._generation == _shared.generation

    def release(self) -> None:
        """Give the lease back; the last one stops the loop and joins its thread."""
        shared = _shared
        with shared.lock:
            if self._released:
                return
            self._released = True
            if self._generation != shared.generation:
                return  # taken before a fork: that portal is not in this process
            shared.leases -= 1
            if shared.leases:
                return
            manager, portal = shared.manager, shared.portal
            shared.manager = shared.portal = shared.loop = None
            # Stopped under the lock: a lease taken meanwhile waits for a
            # fresh portal instead of getting this stopping one.
            if manager is not None and portal is not None:
                # Whatever still runs (a task whose start a signal
                # interrupted) is cancelled, so the loop ends; then the
                # manager finds the portal stopped and joins the thread.
                with suppress(RuntimeError):
                    portal.call(portal.stop, True)
                manager.__exit__(None, None, None)


def lease() -> Lease:
    """Take a lease on the shared portal, starting its thread if need be."""
    shared = _shared
    with shared.lock:
        if shared.portal is None or shared.loop is None:
            manager = start_blocking_portal("asyncio", name=THREAD_NAME)
            portal = manager.__enter__()
            try:
                shared.loop = portal.call(asyncio.get_running_loop)
            except BaseException:
                manager.__exit__(None, None, None)
                raise
            shared.portal, shared.manager = portal, manager
            shared.generation += 1
        shared.leases += 1
        return Lease(shared.portal, shared.loop, shared.generation)


def check_thread() -> None:
    """Refuse to block an event loop: this thread must not be running one.

    Raises:
        RuntimeError: an asyncio loop or a trio run is active in this thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(_LOOP_THREAD.format(library="asyncio"))
    trio = sys.modules.get("trio")
    if trio is not None and trio.lowlevel.in_trio_run():
        raise RuntimeError(_LOOP_THREAD.format(library="trio"))


_LOOP_THREAD = (
    "expys_stream.sync blocks, and this thread runs an {library} event loop: use the "
    "async API (expys_stream) here, or call the sync one in a worker thread "
    "(anyio.to_thread.run_sync, asyncio.to_thread)"
)


def wait(future: Future[_T]) -> _T:
    """The future's result, waiting in slices that a signal can interrupt."""
    while True:
        try:
            return future.result(_SLICE)
        except TimeoutError:
            if future.done():  # (the task's own TimeoutError, or just done)
                return future.result()


def call(portal: BlockingPortal, func: Callable[..., Awaitable[_T]], *args: Any) -> _T:
    """Run ``func(*args)`` on the portal's loop and wait for it.

    A ``KeyboardInterrupt`` (or any other exception) raised in this thread
    while it waits cancels the task before it propagates.
    """
    future = portal.start_task_soon(func, *args)
    try:
        return wait(future)
    except BaseException:
        future.cancel()
        raise


def sync_token(token: TokenSource) -> TokenSource:
    """The token for the async engine: a callable is called in a worker thread.

    A sync provider may block (fetch a token over HTTP, even through this
    library's sync client) without stalling the loop that every sync stream
    of the process shares. An awaitable it returns is awaited on the loop.
    A string is passed on as it is (so a 401 is final, as on the async side).
    """
    if not callable(token) or inspect.iscoroutinefunction(token):
        return token
    provider = token

    async def fetch() -> str:
        result: Any = await anyio.to_thread.run_sync(provider)
        if inspect.isawaitable(result):
            result = await result
        return result  # type: ignore[no-any-return]  # (resolve_token checks it)

    return fetch
