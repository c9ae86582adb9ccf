"""Leaving blocks over HTTP/2: a stream's block resets that stream only;
a scope cancelled around the client and its open streams leaves nothing."""

from __future__ import annotations

import anyio
import pytest
from client_h2_support import (
    AUTHOR,
    LIVE,
    client_h2_conns,
    concierge_h2,
    open_fds,
    poll,
    running_tasks,
    settle,
)
from conftest import Certs

pytestmark = pytest.mark.anyio


async def test_leaving_a_streams_block_resets_that_stream_only(certs: Certs) -> None:
    async with concierge_h2(certs) as env:
        server = env.server
        with anyio.fail_after(20):
            async with env.client() as client, client.open_message_stream(LIVE) as kept:
                async with client.open_message_stream(LIVE):
                    await server.wait_for_streams(2, LIVE)
                [conn] = client_h2_conns(client)
                await poll(lambda: server.connections()[0].resets_received == 1)
                await server.wait_for_stream_count(1, LIVE)
                sent = await server.publish(LIVE, AUTHOR, "still here")
                async for message in kept:
                    assert message == sent
                    break
                [info] = server.connections()
                assert (info.streams_open, info.resets_received) == (1, 1)
                assert client_h2_conns(client) == [conn]


async def test_cancelling_around_a_client_with_open_streams_leaves_nothing(
    certs: Certs,
) -> None:
    async with concierge_h2(certs) as env:
        server = env.server
        fds, tasks = open_fds(), running_tasks()
        with anyio.fail_after(20):
            with anyio.CancelScope() as scope:
                async with (
                    env.client() as client,
                    client.open_message_stream(LIVE),
                    client.open_message_stream(LIVE),
                    client.open_message_stream(LIVE),
                ):
                    await server.wait_for_streams(3, LIVE)
                    assert len(server.connections()) == 1
                    scope.cancel()
                    await anyio.sleep_forever()
            assert scope.cancelled_caught
            await poll(lambda: not server.connections())
            await settle(fds, tasks)
        assert (open_fds(), running_tasks()) == (fds, tasks)
        assert server.open_streams == 0
