"""The HTTP/2 connection and stream objects against a real hypercorn server."""

from __future__ import annotations

import socket
import ssl

import anyio
import pytest
from conftest import EVENT, Serve, Server

from expys_stream import ConnectError, StreamClosed, TLSVerificationError
from expys_stream._http._h2conn import CONNECTION_WINDOW, STREAM_WINDOW, H2Conn
from expys_stream._http._h2dial import connect_h2
from expys_stream._http._h2stream import H2Stream, RetryNow
from expys_stream.sse import SSEDecoder
from expys_stream.testing import serve_concierge

pytestmark = pytest.mark.anyio


async def _connect(tg: anyio.abc.TaskGroup, server: Server, **options: object) -> H2Conn:
    conn = await connect_h2(tg, server.url, ssl_context=server.ssl_context, **options)  # type: ignore[arg-type]
    assert conn is not None
    return conn


async def _read_all(stream: H2Stream) -> bytes:
    parts = []
    while chunk := await stream.read():
        parts.append(chunk)
    return b"".join(parts)


async def _next_ids(stream: H2Stream, decoder: SSEDecoder, count: int) -> list[str]:
    ids: list[str] = []
    while len(ids) < count:
        payload = await stream.read()
        assert payload, "the stream ended early"
        ids.extend(event.id or "" for event in decoder.feed(payload))
    return ids


async def _poll(condition: object, seconds: float = 5) -> None:
    with anyio.fail_after(seconds):
        while not condition():  # type: ignore[operator]
            await anyio.sleep(0.01)


def _window_balanced(conn: H2Conn) -> bool:
    unread = sum(stream.unacked for stream in conn.streams.values())
    return conn.connection_window() + unread == CONNECTION_WINDOW


@pytest.mark.parametrize("tls", [True, False], ids=["tls-alpn", "h2c-prior-knowledge"])
async def test_open_a_stream_and_read_its_events(serve_hypercorn: Serve, tls: bool) -> None:
    async with serve_hypercorn(tls=tls) as server, anyio.create_task_group() as tg:
        conn = await _connect(tg, server)
        stream = await conn.open_stream("GET", "/events/5", [(b"accept", b"text/event-stream")])
        status, headers = await stream.head()
        assert status == 200
        assert stream.header(b"content-type") == b"text/event-stream"
        assert all(name == name.lower() for name, _ in headers)
        events = SSEDecoder().feed(await _read_all(stream))
        assert [event.id for event in events] == ["0", "1", "2", "3", "4"]
        assert await stream.read() == b""  # the end stays the end
        assert conn.open_streams == 0
        assert _window_balanced(conn)
        await conn.aclose()
        assert conn.state == "closed"


async def test_alpn_without_h2_gives_none(serve_hypercorn: Serve) -> None:
    async with serve_hypercorn(alpn_protocols=["http/1.1"]) as server:
        async with anyio.create_task_group() as tg:
            conn = await connect_h2(tg, server.url, ssl_context=server.ssl_context)
        assert conn is None


async def test_1000_resets_leave_the_connection_usable(serve_hypercorn: Serve) -> None:
    # httpcore's failure: no RST_STREAM and unacknowledged DATA, so after
    # 100 early closes "Max outbound streams" and a shrinking window.
    async with serve_hypercorn(keep_alive_max_requests=5000) as server:
        async with anyio.create_task_group() as tg:
            conn = await _connect(tg, server)
            live = await conn.open_stream("GET", "/live")
            await live.head()
            decoder = SSEDecoder()
            assert await live.read() == b": live\n\n"
            for cycle in range(1000):
                stream = await conn.open_stream("GET", "/hold")
                await stream.head()
                assert await stream.read() == b": hello\n\n"
                stream.reset()
                if cycle % 100 == 99:
                    server.hub.publish(cycle)
                    assert await _next_ids(live, decoder, 1) == [str(cycle)]
            assert conn.open_streams == 1
            assert list(conn.streams) == [live.stream_id]
            assert _window_balanced(conn)
            await _poll(lambda: server.hub.disconnects == 1000)
            last = await conn.open_stream("GET", "/events/2")
            assert len(SSEDecoder().feed(await _read_all(last))) == 2
            await conn.aclose()
            with pytest.raises(StreamClosed):
                await live.read()
        assert conn.state == "closed"  # and the task group is done: no task left


async def test_an_unread_stream_does_not_stall_another(serve_hypercorn: Serve) -> None:
    size = 1_000_000  # far above the stream window
    async with serve_hypercorn() as server, anyio.create_task_group() as tg:
        conn = await _connect(tg, server)
        slow = await conn.open_stream("GET", f"/burst/{size}")
        fast = await conn.open_stream("GET", f"/burst/{size}")
        await slow.head()
        assert len(await _read_all(fast)) == size
        assert 0 < slow.unacked <= STREAM_WINDOW  # the server stopped at our window
        assert _window_balanced(conn)
        assert len(await _read_all(slow)) == size
        assert _window_balanced(conn)
        await conn.aclose()


async def test_the_servers_stream_limit_is_respected(serve_hypercorn: Serve) -> None:
    async with serve_hypercorn(h2_max_concurrent_streams=4) as server:
        async with anyio.create_task_group() as tg:
            conn = await _connect(tg, server)
            assert conn.limit() == 4
            streams = [await conn.open_stream("GET", "/hold") for _ in range(4)]
            assert not conn.has_room()
            with pytest.raises(RetryNow):
                await conn.open_stream("GET", "/hold")
            streams[0].reset()
            assert conn.has_room()
            fifth = await conn.open_stream("GET", "/hold")
            assert (await fifth.head())[0] == 200
            for stream in streams[1:]:
                assert (await stream.head())[0] == 200
            await conn.aclose()
        assert all(not stream.is_open for stream in [*streams, fifth])


async def test_keepalive_ping_is_acknowledged(serve_hypercorn: Serve) -> None:
    async with serve_hypercorn() as server, anyio.create_task_group() as tg:
        conn = await _connect(tg, server, ping_interval=0.05, ping_timeout=5.0)
        stream = await conn.open_stream("GET", "/hold")
        await stream.head()
        await _poll(lambda: conn.pings_acked >= 2)
        assert conn.state == "ready"
        assert stream.is_open
        await conn.aclose()


async def test_goaway_after_max_requests(serve_hypercorn: Serve) -> None:
    # hypercorn answers request max+1 with GOAWAY(last_stream_id = its id).
    # On asyncio it never serves that stream (its h2 state is closed before
    # the app answers): the stream is retryable at once. On trio the app
    # may answer first: then the stream is served and goes on. Either way
    # new streams are refused here, and nothing hangs. (The exact rules
    # are tested against a scripted peer in test_h2_peer.py.)
    async with serve_hypercorn(keep_alive_max_requests=2) as server:
        async with anyio.create_task_group() as tg:
            conn = await _connect(tg, server)
            first = await conn.open_stream("GET", "/hold")
            second = await conn.open_stream("GET", "/hold")
            await first.head()
            await second.head()
            third = await conn.open_stream("GET", "/hold")
            await _poll(lambda: conn.state != "ready")
            assert conn.goaway_last_stream_id == third.stream_id
            assert not conn.has_room()
            with pytest.raises(RetryNow):
                await conn.open_stream("GET", "/hold")
            if third.status:
                assert third.is_open
            else:
                with pytest.raises(RetryNow):
                    await third.head()
            # hypercorn's h2 answers any frame after its GOAWAY with
            # GOAWAY(PROTOCOL_ERROR), so the served streams may end with a
            # TransportError; once none is left the connection closes.
            for stream in (first, second, third):
                stream.reset()
            await _poll(lambda: conn.state == "closed")
        with pytest.raises(StreamClosed):
            await first.read()


async def test_a_request_body_larger_than_the_servers_window(serve_hypercorn: Serve) -> None:
    body = b"b" * 300_000  # hypercorn's window is 65,535: the writer resumes on WINDOW_UPDATE
    async with serve_hypercorn() as server, anyio.create_task_group() as tg:
        conn = await _connect(tg, server)
        stream = await conn.open_stream("POST", "/echo", [(b"content-type", b"text/plain")], body)
        assert (await stream.head())[0] == 200
        assert await _read_all(stream) == b"300000"
        await conn.aclose()


async def test_an_untrusted_certificate_is_the_final_tls_error(serve_hypercorn: Serve) -> None:
    async with serve_hypercorn() as server, anyio.create_task_group() as tg:
        with pytest.raises(TLSVerificationError) as caught:
            await connect_h2(tg, server.url, ssl_context=ssl.create_default_context())
        assert caught.value.reason == "untrusted"
        assert caught.value.__cause__ is None


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with anyio.create_task_group() as tg:
        with pytest.raises(ConnectError, match="cannot connect"):
            await connect_h2(tg, f"http://127.0.0.1:{port}/")


async def test_read_bounded_stops_at_the_limit_and_closes(serve_hypercorn: Serve) -> None:
    async with serve_hypercorn() as server, anyio.create_task_group() as tg:
        conn = await _connect(tg, server)
        stream = await conn.open_stream("GET", "/burst/500000")
        await stream.head()
        assert stream.http_version == "HTTP/2"
        assert stream.content_type == "text/event-stream"
        assert await stream.read_bounded(1000) == b"z" * 1000
        assert not stream.is_open
        assert conn.open_streams == 0
        assert _window_balanced(conn)
        whole = await conn.open_stream("GET", "/events/1")
        await whole.head()
        assert await whole.read_bounded() == EVENT % 0
        await conn.aclose()


async def test_prior_knowledge_against_an_http11_server_gives_none() -> None:
    async with serve_concierge(http2=False) as concierge:  # HTTP/1.1 only
        async with anyio.create_task_group() as tg:
            conn = await connect_h2(tg, concierge.base_url)
        assert conn is None
