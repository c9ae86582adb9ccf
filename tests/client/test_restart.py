"""restart(): the caller drops the connection; the stream reconnects and resumes."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from client_support import CONVERSATION, collect, subscribed

from expys_stream import (
    Client,
    Connected,
    Disconnected,
    Retrying,
    StreamClosed,
    StreamState,
    open_item_stream,
)
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio


def stream_requests(server: ConciergeServer) -> list[Any]:
    return [r for r in server.requests if r.path.endswith("/stream")]


async def test_restart_resumes_after_the_last_message_and_counts_a_reconnect(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    async with (
        Client(token=token, **fast) as client,
        client.open_message_stream(CONVERSATION) as stream,
    ):
        await subscribed(server)
        before = [await server.publish(CONVERSATION, "usr_bob", f"m{i}") for i in range(3)]
        assert await collect(stream, 3) == before
        assert stream.reconnects == 0
        stream.restart()
        with anyio.fail_after(10):
            while len(stream_requests(server)) < 2:
                await anyio.sleep(0.01)
        after = [await server.publish(CONVERSATION, "usr_bob", f"n{i}") for i in range(2)]
        assert await collect(stream, 2) == after  # nothing lost, nothing twice
        assert stream.reconnects == 1
        assert stream.stats.connections == 2
        assert stream.state is StreamState.OPEN
    assert stream_requests(server)[1].headers["last-event-id"] == before[-1].id


async def test_restart_shows_as_a_disconnect_without_an_error(
    server: ConciergeServer, token: str
) -> None:
    url = f"{server.base_url}/v1/conversations/{CONVERSATION}/stream"
    async with open_item_stream(url, token=token, backoff_base=0.01, backoff_cap=0.02) as stream:
        got: list[Any] = []
        with anyio.fail_after(10):
            async for item in stream:
                got.append(item)
                if isinstance(item, Connected):
                    if item.attempt == 1 and stream.reconnects == 0:
                        stream.restart()
                    else:
                        break
    dropped = next(item for item in got if isinstance(item, Disconnected))
    retrying = next(item for item in got if isinstance(item, Retrying))
    assert dropped.error is None
    assert dropped.was_open
    assert retrying.error is None
    assert retrying.attempt == 1  # a restart is no failure: the count stays
    assert stream.reconnects == 1


async def test_restart_outside_the_block_is_refused(server: ConciergeServer, token: str) -> None:
    client = Client(token=token, base_url=server.base_url)
    stream = client.open_message_stream(CONVERSATION)
    with pytest.raises(StreamClosed):
        stream.restart()
    await client.aclose()


async def test_restart_while_the_consumer_is_behind_loses_nothing(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    # 2000 messages are more than the client holds (two socket reads), so
    # the reader is waiting to hand a batch over when restart() cuts it:
    # that batch is handed over before the next attempt, and the resume
    # point is after it.
    async with (
        Client(token=token, **fast) as client,
        client.open_message_stream(CONVERSATION) as stream,
    ):
        await subscribed(server)
        sent = [await server.publish(CONVERSATION, "usr_bob", f"m{i}") for i in range(2000)]
        got = await collect(stream, 1)
        with anyio.fail_after(10):
            while stream._channel is None or stream._channel.statistics().tasks_waiting_send == 0:
                await anyio.sleep(0.005)
        stream.restart()
        got += await collect(stream, 1999, timeout=30)
        with anyio.fail_after(10):
            while len(stream_requests(server)) < 2:
                await anyio.sleep(0.01)
        late = await server.publish(CONVERSATION, "usr_bob", "after")
        got += await collect(stream, 1)
    assert [m.id for m in got] == [m.id for m in [*sent, late]]
    assert stream.reconnects == 1
