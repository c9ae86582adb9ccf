"""Cancellation in every phase leaves no task, no socket and no open stream."""

from __future__ import annotations

import anyio
import pytest
from conftest import Serve
from h2peer import serve_peer

from expys_stream import TransportError
from expys_stream._http._h2conn import H2Conn
from expys_stream._http._h2dial import connect_h2

pytestmark = pytest.mark.anyio


def _tasks() -> int:
    """The connection's tasks still running (the reader, the writer)."""
    return sum("_h2conn" in (task.name or "") for task in anyio.get_running_tasks())


async def _poll(condition: object, seconds: float = 5) -> None:
    with anyio.fail_after(seconds):
        while not condition():  # type: ignore[operator]
            await anyio.sleep(0.01)


async def test_cancelled_while_waiting_for_settings() -> None:
    async with serve_peer() as peer:
        before = _tasks()
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: peer.accept(settings=False))
                with anyio.move_on_after(0.2) as scope:
                    await connect_h2(tg, peer.url)
            assert scope.cancelled_caught
            await peer.until_eof()  # the client closed its socket
        assert _tasks() == before == 0


async def test_cancelled_during_the_tls_handshake() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        before = _tasks()
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                accepted = await _accept_later(tg, listener.listeners[0])
                with anyio.move_on_after(0.2) as scope:
                    await connect_h2(tg, f"https://127.0.0.1:{port}/")
            assert scope.cancelled_caught
            sock = accepted[0]
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                while True:  # the ClientHello, then the end
                    await sock.receive()
            await sock.aclose()
        assert _tasks() == before == 0


async def _accept_later(tg: anyio.abc.TaskGroup, listener: anyio.abc.SocketListener) -> list:
    accepted: list[anyio.abc.SocketStream] = []

    async def accept() -> None:
        accepted.append(await listener.accept())

    tg.start_soon(accept)
    return accepted


@pytest.mark.parametrize("phase", ["head", "read"])
async def test_cancelled_stream_is_reset_and_the_connection_goes_on(
    serve_hypercorn: Serve, phase: str
) -> None:
    path = "/nohead" if phase == "head" else "/hold"
    async with serve_hypercorn() as server:
        before = _tasks()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                conn = await connect_h2(tg, server.url, ssl_context=server.ssl_context)
                assert conn is not None
                assert _tasks() == 2  # the reader and the writer
                with anyio.move_on_after(0.2) as scope:
                    async with await conn.open_stream("GET", path) as stream:
                        if phase == "read":
                            await stream.head()
                            assert await stream.read() == b": hello\n\n"
                            await stream.read()  # nothing more comes
                        else:
                            await stream.head()
                assert scope.cancelled_caught
                assert not stream.is_open
                assert conn.open_streams == 0
                assert conn.streams == {}
                await _poll(lambda: server.hub.disconnects == 1)  # the server saw RST_STREAM
                again = await conn.open_stream("GET", "/events/1")
                assert (await again.head())[0] == 200
                await conn.aclose()
        assert _tasks() == before == 0


async def test_cancelling_the_host_group_fails_the_streams(serve_hypercorn: Serve) -> None:
    async with serve_hypercorn() as server:
        before = _tasks()
        conn: H2Conn | None = None
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                conn = await connect_h2(tg, server.url, ssl_context=server.ssl_context)
                assert conn is not None
                stream = await conn.open_stream("GET", "/hold")
                await stream.head()
                await _poll(lambda: stream.unacked > 0)  # the first DATA is buffered
                tg.cancel_scope.cancel()
            assert conn.state == "closed"
            assert await stream.read() == b": hello\n\n"  # what came, first
            with pytest.raises(TransportError):
                await stream.read()
            await _poll(lambda: server.hub.disconnects == 1)  # the socket was closed
        assert _tasks() == before == 0


async def test_many_cancelled_opens_leave_nothing(serve_hypercorn: Serve) -> None:
    # Cancel at every checkpoint of the open-head-read path in turn.
    async with serve_hypercorn() as server, anyio.create_task_group() as tg:
        conn = await connect_h2(tg, server.url, ssl_context=server.ssl_context)
        assert conn is not None
        for checkpoints in range(6):
            with anyio.CancelScope() as scope:
                async with await conn.open_stream("GET", "/hold") as stream:
                    for _ in range(checkpoints):
                        await anyio.lowlevel.checkpoint()
                    scope.cancel()
                    await stream.head()
                    await stream.read()
            assert conn.streams == {}
        assert conn.open_streams == 0
        await _poll(lambda: server.hub.disconnects == 6)
        await conn.aclose()
