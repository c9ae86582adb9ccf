"""Cancellation in every phase of an HTTP/2 stream on ``Client(http2=True)``
leaves no task, no socket and no open stream (docs/http2.md, Cancellation),
and leaving a stream's block resets that stream alone."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import anyio.abc
import pytest
from client_h2_support import (
    LIVE,
    NO_HEAD,
    client_h2_conns,
    concierge_h2,
    hypercorn_chat,
    open_fds,
    poll,
    running_tasks,
    settle,
)
from conftest import Certs

from expys_stream import Client, MessageStream, StreamState

pytestmark = pytest.mark.anyio


async def _settled(fds: int, tasks: int) -> None:
    await settle(fds, tasks)
    assert (open_fds(), running_tasks()) == (fds, tasks)


@pytest.mark.parametrize("tls", [True, False], ids=["tls-handshake", "h2c-preface"])
async def test_cancelled_while_connecting(certs: Certs, tls: bool) -> None:
    # A server that accepts TCP and never answers: no TLS, no SETTINGS.
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as server_tg:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        accepted, closed = anyio.Event(), anyio.Event()

        async def hold_one() -> None:
            sock = await listener.listeners[0].accept()
            accepted.set()
            async with sock:
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    while True:  # the ClientHello or the preface, then the end
                        await sock.receive()
            closed.set()

        server_tg.start_soon(hold_one)
        fds, tasks = open_fds(), running_tasks()
        scheme = "https" if tls else "http"
        with anyio.fail_after(10):
            with anyio.CancelScope() as scope:
                async with (
                    Client(
                        token="tok_test",
                        base_url=f"{scheme}://127.0.0.1:{port}",
                        http2=True,
                        ssl_context=certs.client_context(),
                    ) as client,
                    client.open_message_stream(LIVE) as stream,
                ):
                    server_tg.start_soon(_cancel_on, scope, accepted)
                    async for _message in stream:
                        pass
            assert scope.cancelled_caught
            await closed.wait()  # the client closed its socket
        await _settled(fds, tasks - 1)  # hold_one has ended too


async def _cancel_on(scope: anyio.CancelScope, event: anyio.Event) -> None:
    await event.wait()
    scope.cancel()


async def test_cancelled_while_reading_resets_only_that_stream(certs: Certs) -> None:
    async with concierge_h2(certs) as env:
        server = env.server
        fds, tasks = open_fds(), running_tasks()
        with anyio.fail_after(10):
            async with env.client() as client:
                with anyio.CancelScope() as scope:

                    async def cancel_once_subscribed() -> None:
                        await server.wait_for_streams(1, LIVE)
                        scope.cancel()

                    async with (
                        client.open_message_stream(LIVE) as stream,
                        anyio.create_task_group() as tg,
                    ):
                        tg.start_soon(cancel_once_subscribed)
                        async for _message in stream:
                            pass
                assert scope.cancelled_caught
                # The stream was reset; the connection stays for others.
                await poll(lambda: env.h2_connections()[0].streams_open == 0)
                [info] = env.h2_connections()
                assert info.resets_received == 1
                assert len(client_h2_conns(client)) == 1
            await poll(lambda: server.open_streams == 0 and not env.h2_connections())
        await _settled(fds, tasks)


async def _read_until(
    client: Client, conversation_id: str, condition: Callable[[MessageStream], bool]
) -> MessageStream:
    """Read a stream of ``client`` until ``condition(stream)`` holds, then
    cancel the scope around it; the closed stream, once its block is left."""
    with anyio.CancelScope() as scope:
        async with client.open_message_stream(conversation_id) as stream:

            async def cancel_when_true() -> None:
                await poll(lambda: condition(stream))
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel_when_true)
                async for _message in stream:
                    pass
    assert scope.cancelled_caught
    return stream


async def test_cancelled_while_waiting_for_the_head_resets_the_stream(certs: Certs) -> None:
    # hypercorn's chat app never answers NO_HEAD: the stream waits for its head.
    # (The counts are taken around hypercorn too: its side of the connection
    # lives until it notices the close.)
    fds, tasks = open_fds(), running_tasks()
    async with hypercorn_chat(certs) as chat:
        with anyio.fail_after(10):
            async with chat.client() as client:
                stream = await _read_until(
                    client,
                    NO_HEAD,
                    lambda s: len(chat.hub.requests) == 1 and s.state is StreamState.CONNECTING,
                )
                assert stream.stats.attempts == 1
                # The server saw the reset; the connection stays for others.
                await poll(lambda: chat.hub.disconnects == 1)
                [conn] = client_h2_conns(client)
                assert conn.open_streams == 0
                assert stream.stats.connections == 0
            assert client_h2_conns(client) == []
        assert len(chat.hub.requests) == 1  # no retry was made
    await _settled(fds, tasks)


async def test_cancelled_while_backing_off_ends_the_sleep(certs: Certs) -> None:
    async with concierge_h2(certs) as env:
        env.server.faults.fail_next(1, 503, retry_after=30)
        fds, tasks = open_fds(), running_tasks()
        with anyio.fail_after(10):  # far below the 30 s the server asked for
            async with env.client() as client:
                stream = await _read_until(client, LIVE, lambda s: s.state is StreamState.RETRYING)
                assert stream.reconnects == 0
                assert stream.stats.attempts == 1
                assert stream.state is StreamState.CLOSED
                # The 503 came over HTTP/2 and its stream is done.
                [conn] = client_h2_conns(client)
                assert conn.open_streams == 0
            await poll(lambda: not env.h2_connections())
        await _settled(fds, tasks)
