"""Leaving the block closes everything at once, on asyncio and trio alike.

Each test counts this process's open file descriptors: after the block (and
once the in-process server has noticed the disconnect) the count is back
where it started. ``filterwarnings = error`` turns any ResourceWarning about
an unclosed socket or stream into a failure.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import anyio
import anyio.abc
import pytest
from client_support import CONVERSATION, collect, open_fds, subscribed

from expys_stream import StreamClosed, open_message_stream
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio


async def settle(server: ConciergeServer, fds: int | None = None) -> None:
    """Wait until the server has closed its side of every stream (and, given
    ``fds``, until the descriptor count is back to it, or 5 s have passed:
    the server's side of a keep-alive connection closes when it sees EOF)."""
    with anyio.fail_after(10):
        while server.open_streams:
            await anyio.sleep(0.01)
    if fds is not None:
        with anyio.move_on_after(5):
            while open_fds() > fds:
                await anyio.sleep(0.01)


class Hanging:
    """Accepts connections and never answers (to cancel a connect or a request)."""

    async def __aenter__(self) -> str:
        self.listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = self.listener.extra(anyio.abc.SocketAttribute.local_port)
        self.tg = anyio.create_task_group()
        await self.tg.__aenter__()
        self.tg.start_soon(self.listener.serve, self._hold)
        return f"http://127.0.0.1:{port}"

    async def _hold(self, client: anyio.abc.SocketStream) -> None:
        async with client:
            await anyio.sleep_forever()

    async def __aexit__(self, *exc: Any) -> None:
        self.tg.cancel_scope.cancel()
        await self.tg.__aexit__(None, None, None)
        await self.listener.aclose()


async def test_break_while_waiting_for_the_response(token: str) -> None:
    async with Hanging() as url:
        before = open_fds()
        started = time.monotonic()
        with anyio.move_on_after(0.3):
            async with open_message_stream(CONVERSATION, token=token, base_url=url) as stream:
                async for _message in stream:
                    pass
        assert time.monotonic() - started < 2.5
        assert open_fds() <= before + 1  # the server's accepted side may linger
    gc.collect()


async def test_break_during_a_read_closes_the_socket(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    before = open_fds()
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        await subscribed(server)
        sent = await server.publish(CONVERSATION, "usr_bob", "one")
        async for message in stream:
            assert message == sent
            break
    await settle(server, before)
    assert open_fds() == before


async def test_leaving_during_a_backoff_sleep_cancels_it(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    server.faults.fail_next(1, 503, retry_after=30)
    before = open_fds()
    started = time.monotonic()
    with anyio.move_on_after(0.5):
        async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
            async for _message in stream:
                pass
    assert time.monotonic() - started < 3  # not the 30 s Retry-After
    assert stream.reconnects == 0
    await settle(server, before)
    assert open_fds() == before


async def test_an_outer_cancel_scope_ends_the_block(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    before = open_fds()
    with anyio.CancelScope() as scope:
        async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
            await subscribed(server)
            scope.cancel()
            async for _message in stream:
                pass
    assert scope.cancelled_caught
    await settle(server, before)
    assert open_fds() == before


async def test_cancelling_the_task_that_runs_the_stream(
    server: ConciergeServer, token: str, fast: dict[str, Any], anyio_backend: str
) -> None:
    before = open_fds()
    finished = anyio.Event()

    async def consume() -> None:
        try:
            async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
                async for _message in stream:
                    pass
        finally:
            finished.set()

    if anyio_backend == "asyncio":
        import asyncio

        task = asyncio.get_running_loop().create_task(consume())
        await subscribed(server)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    else:
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await subscribed(server)
            tg.cancel_scope.cancel()
    assert finished.is_set()
    await settle(server, before)
    assert open_fds() == before


async def test_500_open_and_break_cycles_leave_nothing_behind(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    before = open_fds()
    for _ in range(500):
        async with open_message_stream(CONVERSATION, token=token, **fast):
            await subscribed(server)
    await settle(server, before)
    assert open_fds() == before


async def test_a_user_exception_leaves_as_the_same_object(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    cause = KeyError("cause")
    error = ValueError("mine")
    with pytest.raises(ValueError) as info:
        try:
            raise RuntimeError("context")
        except RuntimeError:
            async with open_message_stream(CONVERSATION, token=token, **fast):
                await subscribed(server)
                raise error from cause
    assert info.value is error
    assert info.value.__cause__ is cause
    assert isinstance(info.value.__context__, RuntimeError)
    await settle(server)


async def test_keyboard_interrupt_wins(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    interrupt = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt) as info:
        async with open_message_stream(CONVERSATION, token=token, **fast):
            await subscribed(server)
            raise interrupt
    assert info.value is interrupt
    await settle(server)


async def test_using_a_stream_outside_its_block_is_an_error(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    stream = open_message_stream(CONVERSATION, token=token, **fast)
    with pytest.raises(StreamClosed):
        await stream.__anext__()
    async with stream:
        await subscribed(server)
    with pytest.raises(StreamClosed):
        await stream.__anext__()
    with pytest.raises(StreamClosed):
        await stream.__aenter__()
    await settle(server)


async def test_aclose_ends_the_iteration(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        await subscribed(server)
        sent = await server.publish(CONVERSATION, "usr_bob", "one")
        assert await collect(stream, 1) == [sent]
        await stream.aclose()
        with anyio.fail_after(5):
            assert [m async for m in stream] == []
    await settle(server)


def test_a_stream_never_closed_warns() -> None:
    stream = open_message_stream(CONVERSATION, token="t", base_url="http://127.0.0.1:9")
    stream._state = "open"  # as if entered and abandoned without __aexit__
    with pytest.warns(ResourceWarning, match="never closed"):
        del stream
        gc.collect()
