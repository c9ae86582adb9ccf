"""Which asyncio loop, if any, runs the current task.

Two per-stream objects (the channel between a stream's reader and its
consumer, and an HTTP/2 stream's buffer) wait on a bare future of the loop
on asyncio instead of an ``anyio.Event``: an idle stream keeps one waiter
for as long as it is idle, and an ``anyio.Event`` there is an
``asyncio.Event`` whose deque of waiters alone takes 760 bytes
(docs/performance.md). Under trio they keep using ``anyio.Event``.
"""

from __future__ import annotations

import asyncio

__all__ = ["asyncio_loop"]


def asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The loop of the running asyncio task; None under trio (no asyncio
    loop in the thread, or trio as a guest: no asyncio task)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return None
    return None if task is None else task.get_loop()
