"""The HTTP/2 connection against a scripted peer: PING, GOAWAY's rules,
resets, a silent or broken server, cancellation in every phase."""

from __future__ import annotations

import contextlib
import random

import anyio
import h2.errors
import pytest
from h2peer import Peer, serve_peer

from expys_stream import ExpysError, ProtocolError, ReadTimeout, StreamClosed, TransportError
from expys_stream._http._h2conn import H2Conn
from expys_stream._http._h2dial import connect_h2
from expys_stream._http._h2stream import H2Stream, RetryNow

pytestmark = pytest.mark.anyio


async def _connect(tg: anyio.abc.TaskGroup, peer: Peer, **options: object) -> H2Conn:
    async with anyio.create_task_group() as side:
        side.start_soon(peer.accept)
        conn = await connect_h2(tg, peer.url, **options)  # type: ignore[arg-type]
    assert conn is not None
    return conn


async def _open(conn: H2Conn, peer: Peer, count: int) -> list[H2Stream]:
    streams = [await conn.open_stream("GET", f"/s{i}") for i in range(count)]
    await peer.requests(count)
    return streams


async def test_server_ping_answered_while_nothing_reads() -> None:
    async with serve_peer() as peer, anyio.create_task_group() as tg:
        conn = await _connect(tg, peer)
        (stream,) = await _open(conn, peer, 1)
        peer.respond(stream.stream_id, b": hi\n\n")
        await peer.flush()
        peer.h2.ping(b"12345678")
        await peer.flush()
        with anyio.fail_after(5):
            while not peer.pings_acked:
                await peer.pump()
        assert stream.unacked == len(b": hi\n\n")  # nobody read the stream
        await conn.aclose()


async def test_a_silent_peer_is_found_by_the_keepalive_ping() -> None:
    async with serve_peer() as peer, anyio.create_task_group() as tg:
        conn = await _connect(tg, peer, ping_interval=0.05, ping_timeout=0.1)
        (stream,) = await _open(conn, peer, 1)
        peer.respond(stream.stream_id, b"data: 1\n\n")
        await peer.flush()
        # The peer now reads nothing and answers nothing.
        with anyio.fail_after(5):
            assert await stream.read() == b"data: 1\n\n"
            with pytest.raises(ReadTimeout, match="answered no PING"):
                await stream.read()
            while conn.state != "closed":
                await anyio.sleep(0.01)
        assert conn.pings_sent == 1


async def test_goaway_fails_only_streams_above_last_stream_id() -> None:
    async with serve_peer() as peer, anyio.create_task_group() as tg:
        conn = await _connect(tg, peer)
        one, three, five = await _open(conn, peer, 3)
        for stream in (one, three, five):
            peer.respond(stream.stream_id)
        peer.goaway_frame(last_stream_id=three.stream_id)
        peer.h2.send_data(one.stream_id, b"data: a\n\n", end_stream=True)
        peer.h2.send_data(three.stream_id, b"data: b\n\n")
        await peer.flush()
        with anyio.fail_after(5):
            with pytest.raises(RetryNow):
                await five.read()
            assert await one.read() == b"data: a\n\n"
            assert await one.read() == b""
            assert await three.read() == b"data: b\n\n"
            assert not conn.has_room()
            with pytest.raises(RetryNow):
                await conn.open_stream("GET", "/later")
            peer.h2.send_data(three.stream_id, b"data: c\n\n", end_stream=True)
            await peer.flush()
            assert await three.read() == b"data: c\n\n"
            assert await three.read() == b""
            await peer.until_eof()  # the last stream gone, the client closes
        assert peer.resets_seen == []  # nothing the server must not get after GOAWAY
        assert conn.state == "closed"


async def test_goaway_with_an_error_fails_every_stream() -> None:
    async with serve_peer() as peer, anyio.create_task_group() as tg:
        conn = await _connect(tg, peer)
        (stream,) = await _open(conn, peer, 1)
        peer.respond(stream.stream_id, b"data: a\n\n")
        peer.h2.close_connection(h2.errors.ErrorCodes.INTERNAL_ERROR, last_stream_id=1)
        await peer.flush()
        with anyio.fail_after(5):
            assert await stream.read() == b"data: a\n\n"  # what came first, first
            with pytest.raises(TransportError, match="going away") as caught:
                await stream.read()
        assert not isinstance(caught.value, RetryNow)
        await conn.aclose()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (h2.errors.ErrorCodes.INTERNAL_ERROR, TransportError),
        (h2.errors.ErrorCodes.REFUSED_STREAM, RetryNow),
    ],
)
async def test_a_reset_from_the_server(code: h2.errors.ErrorCodes, expected: type) -> None:
    async with serve_peer() as peer, anyio.create_task_group() as tg:
        conn = await _connect(tg, peer)
        gone, other = await _open(conn, peer, 2)
        peer.h2.reset_stream(gone.stream_id, code)
        peer.respond(other.stream_id, b"data: x\n\n")
        await peer.flush()
        with anyio.fail_after(5):
            with pytest.raises(expected, match=code.name) as caught:
                await gone.head()
            assert type(caught.value) is expected
            assert gone.reset_code == code
            assert await other.read() == b"data: x\n\n"  # the connection goes on
        assert conn.state == "ready"
        await conn.aclose()


async def test_connection_lost_after_data_delivers_the_data_first() -> None:
    async with serve_peer() as peer, anyio.create_task_group() as tg:
        conn = await _connect(tg, peer)
        (stream,) = await _open(conn, peer, 1)
        peer.respond(stream.stream_id, b"data: last\n\n")
        await peer.flush()
        assert peer.sock is not None
        await peer.sock.aclose()
        with anyio.fail_after(5):
            assert await stream.read() == b"data: last\n\n"
            with pytest.raises(TransportError, match="closed by the server"):
                await stream.read()
        with pytest.raises(TransportError):
            await conn.open_stream("GET", "/again")


async def test_garbage_from_the_server_is_a_protocol_error() -> None:
    async with serve_peer() as peer, anyio.create_task_group() as tg:
        conn = await _connect(tg, peer)
        (stream,) = await _open(conn, peer, 1)
        assert peer.sock is not None
        await peer.sock.send(
            b"\x00\x00\x08\x07\x00\x00\x00\x00\x01" + b"\xff" * 8
        )  # GOAWAY on stream 1
        with anyio.fail_after(5):
            with pytest.raises(ProtocolError, match="broke HTTP/2"):
                await stream.head()
            await peer.until_eof()
        assert conn.state == "closed"


@pytest.mark.parametrize(
    "header",
    [
        (b"te", b"secret-token"),
        (b"x-key", b"secret-token\r\nx-evil: 1"),
        (b"x key", b"secret-token"),
    ],
    ids=["h2-refuses", "crlf", "bad-name"],
)
async def test_a_bad_request_header_is_a_protocol_error_without_the_value(
    header: tuple[bytes, bytes],
) -> None:
    async with serve_peer() as peer, anyio.create_task_group() as tg:
        conn = await _connect(tg, peer)
        with pytest.raises(ProtocolError, match="invalid request") as caught:
            await conn.open_stream("GET", "/", [header])
        assert "secret-token" not in str(caught.value)
        assert conn.has_room()
        assert conn.open_streams == 0
        await conn.aclose()


async def test_errors_are_always_ours() -> None:
    # Whatever the failure above, the caller sees the library's hierarchy.
    async with serve_peer() as peer, anyio.create_task_group() as tg:
        conn = await _connect(tg, peer)
        (stream,) = await _open(conn, peer, 1)
        await conn.aclose()
        with pytest.raises(StreamClosed) as caught:
            await stream.read()
        assert isinstance(caught.value, ExpysError)
        assert caught.value.__cause__ is None


async def test_aclose_sends_goaway_and_closes_the_socket() -> None:
    async with serve_peer() as peer, anyio.create_task_group() as tg:
        conn = await _connect(tg, peer)
        (stream,) = await _open(conn, peer, 1)
        peer.respond(stream.stream_id, b"data: 1\n\n")
        await peer.flush()
        assert await stream.read() == b"data: 1\n\n"
        await conn.aclose()
        with anyio.fail_after(5):
            await peer.until_eof()
        assert peer.goaways == [0]  # NO_ERROR, then the end of the socket
        assert conn.state == "closed"


async def test_a_non_ascii_path_is_a_protocol_error() -> None:
    async with serve_peer() as peer, anyio.create_task_group() as tg:
        conn = await _connect(tg, peer)
        with pytest.raises(ProtocolError, match="ASCII"):
            await conn.open_stream("GET", "/caf\u00e9")
        assert conn.open_streams == 0
        await conn.aclose()


@pytest.mark.parametrize("seed", range(12))
async def test_random_server_bytes_give_only_our_errors(seed: int) -> None:
    # After the SETTINGS, bytes shaped like frames (a valid header with a
    # random type, flags, stream and payload) or plain noise: the stream
    # sees only ExpysError subclasses, and the host group raises nothing.
    rng = random.Random(seed)
    async with serve_peer() as peer:
        async with anyio.create_task_group() as tg:
            conn = await _connect(tg, peer)
            (stream,) = await _open(conn, peer, 1)
            assert peer.sock is not None
            for _ in range(rng.randint(1, 6)):
                payload = rng.randbytes(rng.randint(0, 40))
                header = len(payload).to_bytes(3, "big") + bytes([rng.randint(0, 10)])
                header += bytes([rng.randint(0, 255)]) + rng.choice([0, 1, 3]).to_bytes(4, "big")
                chunk = header + payload if rng.random() < 0.8 else rng.randbytes(30)
                with contextlib.suppress(anyio.BrokenResourceError):
                    await peer.sock.send(chunk)
            with anyio.move_on_after(0.5):  # some noise is just incomplete
                try:
                    await stream.head()
                    await stream.read()
                except ExpysError:
                    pass
            await conn.aclose()
            with pytest.raises(ExpysError):
                while await stream.read():
                    pass
        assert conn.state == "closed"
