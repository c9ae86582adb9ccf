"""The reader task of each stream: where it runs, what it sees, when it ends.

A stream's reader is a bare asyncio task, or a task in a trio nursery of the
stream's own (``_reader_task.py``), not an anyio task group's task: these
tests hold what the task group used to guarantee, on both backends.
"""

from __future__ import annotations

import contextvars
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from client_support import CONVERSATION, collect, subscribed

from expys_stream import Client, open_message_stream
from expys_stream._loop import Waiter, asyncio_loop
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio

READER = "expys_stream reader"

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


def readers() -> int:
    """How many stream readers run now (both backends)."""
    return sum(1 for task in anyio.get_running_tasks() if task.name == READER)


async def test_each_open_stream_has_one_reader_and_leaving_ends_it_at_once(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    baseline = readers()
    async with Client(token=token, **fast) as client:
        async with client.open_message_stream(CONVERSATION) as first:
            async with client.open_message_stream(CONVERSATION) as second:
                await subscribed(server, 2)
                assert readers() == baseline + 2
                sent = await server.publish(CONVERSATION, "usr_bob", "to both")
                assert await collect(first, 1) == [sent]
                assert await collect(second, 1) == [sent]
            # Leaving a block waits for its reader: no polling needed.
            assert readers() == baseline + 1
        assert readers() == baseline


async def test_the_token_provider_runs_in_the_context_that_entered_the_stream(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    seen: list[str] = []

    async def provider() -> str:
        seen.append(request_id.get())
        return token

    server.faults.drop_after_events(1)  # one reconnect: the provider runs twice
    reset = request_id.set("req-42")
    try:
        async with open_message_stream(CONVERSATION, token=provider, **fast) as stream:
            await subscribed(server)
            first = await server.publish(CONVERSATION, "usr_bob", "one")
            second = await server.publish(CONVERSATION, "usr_bob", "two")
            assert await collect(stream, 2) == [first, second]
    finally:
        request_id.reset(reset)
    assert len(seen) >= 2
    assert set(seen) == {"req-42"}


async def test_a_wake_with_nobody_waiting_is_forgotten() -> None:
    waiter = Waiter(asyncio_loop())
    waiter.wake()  # nobody waits: nothing is kept for later
    woken = anyio.Event()

    async def wait() -> None:
        await waiter.wait()
        woken.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        with anyio.fail_after(5):
            while not waiter.waiting:
                await anyio.lowlevel.checkpoint()
        for _ in range(10):  # the earlier wake did not resume it
            await anyio.lowlevel.checkpoint()
        assert not woken.is_set()
        waiter.wake()
        with anyio.fail_after(5):
            await woken.wait()
    assert not waiter.waiting


async def test_a_cancelled_wait_leaves_the_waiter_usable() -> None:
    waiter = Waiter(asyncio_loop())
    with anyio.move_on_after(0.05) as scope:
        await waiter.wait()
    assert scope.cancelled_caught
    assert not waiter.waiting
    waiter.wake()  # (nobody waits: a no-op, not an error)

    async def wait() -> None:
        await waiter.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        with anyio.fail_after(5):
            while not waiter.waiting:
                await anyio.lowlevel.checkpoint()
        waiter.wake()
    assert not waiter.waiting
