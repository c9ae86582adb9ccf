"""Where a stream's reader task runs, at the least cost per stream.

Every open stream has one reader task (``_reader.py``), for as long as it
is open, so what a task costs is paid by every idle stream. anyio's
``TaskGroup.start_soon`` (4.14 and later) wraps each task in a
``TaskHandle`` with a cancel scope and an event of its own, and the group
adds a scope of its own: about 2 KiB per stream on the heap, more than the
rest of an idle HTTP/2 stream's own objects (docs/performance.md). The
reader needs none of it: it never raises into its group (its failures go
down the channel) and it is stopped by cancelling its own attempt scope.

- On **asyncio** the reader is a bare task of the loop. The stream stops
  it as ``aclose()`` does (``_stopped``, its attempt scope cancelled, the
  channel closed) and waits for it, shielded: the reader's own shielded,
  bounded clean-up (closing an HTTP/1.1 connection) runs to its end, as
  anyio's cancellation, unlike ``Task.cancel()``, lets it.
- On **trio** a task needs a nursery: the stream opens one of trio's own,
  with no anyio wrapper, in the task that enters the stream.

Either way leaving the block waits for the reader to finish. On asyncio the
user's block now runs inside no scope of ours; on trio it runs inside the
nursery's scope, as it did inside the anyio task group's, which is only
cancelled when the block is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeAlias, TypeVarTuple, Unpack

import anyio

from ._loop import asyncio_loop

__all__ = ["ReaderTask", "join_reader", "start_reader"]

# A bare asyncio task, or trio's (nursery manager, nursery).
ReaderTask: TypeAlias = "asyncio.Task[None] | tuple[Any, Any]"

_NAME = "expys_stream reader"  # constant: a per-URL name would be kept by every task


_Args = TypeVarTuple("_Args")


async def start_reader(
    run: Callable[[Unpack[_Args]], Coroutine[Any, Any, None]], *args: *_Args
) -> ReaderTask:
    """Start ``run(*args)`` as the stream's reader, in the calling task's context."""
    loop = asyncio_loop()
    if loop is not None:
        return loop.create_task(run(*args), name=_NAME)
    import trio

    manager = trio.open_nursery()
    nursery = await manager.__aenter__()
    nursery.start_soon(run, *args, name=_NAME)
    return manager, nursery


async def join_reader(task: ReaderTask) -> None:
    """Wait until the reader has finished (the caller has stopped it).

    Waits even in a cancelled scope, as a task group's exit does; raises
    what the reader raised (only a ``BaseException`` such as
    ``KeyboardInterrupt``: the reader keeps its errors for the channel).
    """
    if isinstance(task, asyncio.Task):
        if not task.done():
            with anyio.CancelScope(shield=True):
                await asyncio.wait((task,))
        if not task.cancelled():
            error = task.exception()
            if error is not None:
                raise error
        return
    manager, nursery = task
    nursery.cancel_scope.cancel()
    await manager.__aexit__(None, None, None)
