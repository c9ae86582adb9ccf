"""The concierge over HTTP/2 with prior knowledge, seen by a raw h2 client (both backends)."""

from __future__ import annotations

import collections
import subprocess
import sys
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import h2.settings
import pytest
from h2_client import RawH2, connect_h2

from expys_stream.testing import ConciergeServer, serve_concierge

pytestmark = pytest.mark.anyio

DEMO = "cnv_demo"
MESSAGES = f"/v1/conversations/{DEMO}/messages"
STREAM = f"/v1/conversations/{DEMO}/stream"


@pytest.fixture
async def server() -> AsyncIterator[ConciergeServer]:
    async with serve_concierge(keepalive_interval=60) as running:
        running.add_conversation(DEMO)
        yield running


@pytest.fixture
def alice(server: ConciergeServer) -> str:
    return server.add_member(DEMO, "usr_alice")


@pytest.fixture
async def client(server: ConciergeServer) -> AsyncIterator[RawH2]:
    with anyio.fail_after(10):
        async with connect_h2(server.port) as connected:
            yield connected


async def test_prior_knowledge_lists_messages(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    await server.publish(DEMO, "usr_alice", "hello")
    with anyio.fail_after(5):
        response = await client.get(MESSAGES, alice)
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert [m["body"] for m in response.json()["messages"]] == ["hello"]
    assert int(response.headers["content-length"]) == len(response.body)
    assert server.requests[-1].http_version == "HTTP/2"
    assert server.requests[-1].headers["host"] == client.authority
    [connection] = server.connections()
    assert (connection.protocol, connection.tls, connection.streams_total) == ("h2", False, 1)


async def test_statuses_and_challenges(server: ConciergeServer, client: RawH2, alice: str) -> None:
    server.add_conversation("cnv_other")
    outsider = server.add_member("cnv_other", "usr_mallory")
    with anyio.fail_after(5):
        missing = await client.get(MESSAGES)
        wrong = await client.get(MESSAGES, "not-a-token")
        forbidden = await client.get(MESSAGES, outsider)
        no_conversation = await client.get("/v1/conversations/cnv_nope/messages", alice)
        no_path = await client.get("/nowhere", alice)
        not_allowed = await client.request("DELETE", MESSAGES, token=alice)
        await client.until(lambda: not_allowed.closed)
    assert missing.status == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="concierge"'
    assert wrong.status == 401
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert forbidden.status == 403
    assert no_conversation.status == 404
    assert no_conversation.json()["error"]["message"] == "no such conversation"
    assert no_path.status == 404
    assert not_allowed.status == 405
    assert "GET" in not_allowed.headers["allow"]
    assert len(server.connections()) == 1  # all on one connection


async def test_send_a_large_body_needs_the_servers_window_updates(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    text = "x" * 100_000  # more than the 64 KiB - 1 the server's window starts with
    body = b'{"body":"' + text.encode() + b'"}'
    response = await client.request("POST", MESSAGES, token=alice, end=False)
    with anyio.fail_after(5):
        while body:
            await client.until(lambda: client.h2.local_flow_control_window(1) > 0)
            size = min(client.h2.local_flow_control_window(1), client.h2.max_outbound_frame_size)
            client.h2.send_data(1, body[:size])
            body = body[size:]
            await client.flush()
        client.h2.end_stream(1)
        await client.flush()
        await client.until(lambda: response.closed)
    assert response.status == 201
    assert server.messages(DEMO)[-1].body == text


async def test_stream_replays_history_then_goes_live(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    first = await server.publish(DEMO, "usr_alice", "one")
    await server.publish(DEMO, "usr_alice", "two")
    with anyio.fail_after(5):
        resume = {"last-event-id": first.id}
        stream = await client.request("GET", STREAM, token=alice, headers=resume)
        await server.wait_for_streams(1)
        await client.until(lambda: stream.messages() == ["two"])
        await server.publish(DEMO, "usr_alice", "three")
        await client.until(lambda: stream.messages() == ["two", "three"])
    assert stream.status == 200
    assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert stream.body.startswith(b"retry: 10\n")
    assert next(e.id for e in stream.events() if e.event == "message") != first.id


async def test_keepalives_reach_an_idle_stream() -> None:
    async with serve_concierge(keepalive_interval=0.01) as server:
        server.add_conversation(DEMO)
        token = server.add_member(DEMO, "usr_alice")
        with anyio.fail_after(5):
            async with connect_h2(server.port) as client:
                stream = await client.request("GET", STREAM, token=token)
                await client.until(lambda: stream.body.count(b": keepalive\n") >= 2)
    assert stream.body.startswith(b"retry: 10\n")


async def test_many_streams_on_one_connection(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    with anyio.fail_after(10):
        streams = [await client.request("GET", STREAM, token=alice) for _ in range(30)]
        await server.wait_for_streams(30)
        [connection] = server.connections()
        assert (connection.streams_open, connection.streams_total) == (30, 30)
        await server.publish(DEMO, "usr_alice", "to all")
        await client.until(lambda: all(s.messages() == ["to all"] for s in streams))


async def test_a_client_reset_ends_that_stream_only(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    with anyio.fail_after(5):
        kept = await client.request("GET", STREAM, token=alice)
        cancelled = await client.request("GET", STREAM, token=alice)
        await server.wait_for_streams(2)
        await client.reset(cancelled)
        await server.wait_for_stream_count(1)
        [connection] = server.connections()
        assert (connection.resets_received, connection.streams_open) == (1, 1)
        await server.publish(DEMO, "usr_alice", "after")
        await client.until(lambda: kept.messages() == ["after"])
    assert cancelled.messages() == []


async def test_ping_is_answered(server: ConciergeServer, client: RawH2) -> None:
    with anyio.fail_after(5):
        await client.ping()
        await client.ping()
    assert client.pings_acked == 2
    assert server.connections()[0].pings_received == 2


async def test_closing_the_server_sends_goaway() -> None:
    stop = anyio.Event()

    async def run_server(*, task_status: anyio.abc.TaskStatus[ConciergeServer]) -> None:
        async with serve_concierge() as own:
            own.add_conversation(DEMO)
            task_status.started(own)
            await stop.wait()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as task_group:
            own = await task_group.start(run_server)
            token = own.add_member(DEMO, "usr_alice")
            async with connect_h2(own.port) as client:
                stream = await client.request("GET", STREAM, token=token)
                await own.wait_for_streams(1)
                await client.get(MESSAGES, token)
                stop.set()  # the server closes while the client is connected
                await client.until(lambda: client.goaway is not None and client.eof)
    assert client.goaway is not None
    assert client.goaway.error_code == 0
    assert client.goaway.last_stream_id == 3
    assert stream.status == 200
    assert not stream.closed  # cut by the connection's end, not ended


async def test_a_stream_the_client_does_not_read_does_not_stall_another(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    with anyio.fail_after(10):
        stalled = await client.request("GET", STREAM, token=alice, ack=False)
        flowing = await client.request("GET", STREAM, token=alice)
        await server.wait_for_streams(2)
        for n in range(200):  # about 200 KiB: three times the stalled stream's window
            await server.publish(DEMO, "usr_alice", f"{n:04d}" + "x" * 1000)
        await client.until(lambda: len(flowing.messages()) == 200)
        await client.until(lambda: len(stalled.body) == 65535)
        assert len(stalled.messages()) < 200
        await client.acknowledge(stalled)
        await client.until(lambda: len(stalled.messages()) == 200)
    assert stalled.messages() == flowing.messages()


async def test_max_concurrent_streams_is_announced_and_enforced() -> None:
    async with serve_concierge(h2_max_concurrent_streams=2) as server:
        server.add_conversation(DEMO)
        token = server.add_member(DEMO, "usr_alice")
        with anyio.fail_after(5):
            async with connect_h2(server.port) as client:
                assert client.h2.remote_settings.max_concurrent_streams == 2
                # Make h2 (client side) forget the limit, to overstep it.
                limit = h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS
                client.h2.remote_settings._settings[limit] = collections.deque([10])
                for _ in range(3):
                    await client.request("GET", STREAM, token=token)
                await client.until(lambda: client.goaway is not None)
    assert client.goaway is not None
    assert (client.goaway.error_code, client.goaway.last_stream_id) == (0x1, 3)  # PROTOCOL_ERROR


async def test_http2_false_answers_the_preface_as_http11() -> None:
    async with serve_concierge(http2=False) as server:
        with anyio.fail_after(5):
            async with await anyio.connect_tcp("127.0.0.1", server.port) as sock:
                await sock.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                reply = await sock.receive()
                with pytest.raises(anyio.EndOfStream):
                    while True:
                        reply += await sock.receive()
    assert reply.startswith(b"HTTP/1.1 4")
    assert [(r.method, r.http_version) for r in server.requests] == [("PRI", "HTTP/1.1")]
    assert server.connections() == []  # closed after the error


async def test_http11_and_h2_connections_side_by_side(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    with anyio.fail_after(5):
        async with await anyio.connect_tcp("127.0.0.1", server.port) as sock:
            request = f"GET {MESSAGES} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {alice}\r\n\r\n"
            await sock.send(request.encode())
            reply = await sock.receive()
            assert reply.startswith(b"HTTP/1.1 200 ")
            protocols = sorted(c.protocol for c in server.connections())
            assert protocols == ["h2", "http/1.1"]
        await client.get(MESSAGES, alice)
    assert [r.http_version for r in server.requests] == ["HTTP/1.1", "HTTP/2"]


_WITHOUT_H2 = """
import sys
sys.modules["h2"] = None  # as if h2 were not installed: importing it fails
import anyio
from expys_stream.testing import serve_concierge

async def main() -> None:
    with anyio.fail_after(10):
        await exchange()

async def exchange() -> None:
    async with serve_concierge() as server:
        async with await anyio.connect_tcp("127.0.0.1", server.port) as sock:
            await sock.send(b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n")
            frame = b""
            try:
                while True:
                    frame += await sock.receive()
            except anyio.EndOfStream:
                pass
    print(frame.hex(), "h2" in sys.modules and sys.modules["h2"] is not None)

anyio.run(main)
"""


def test_without_h2_a_preface_gets_a_goaway_that_says_why() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_H2], capture_output=True, text=True, timeout=60, check=True
    )
    hex_frame, h2_loaded = done.stdout.split()
    frame = bytes.fromhex(hex_frame)
    length, kind = int.from_bytes(frame[:3], "big"), frame[3]
    assert (kind, len(frame)) == (0x7, 9 + length)  # one GOAWAY frame, then the close
    assert int.from_bytes(frame[13:17], "big") == 0xD  # HTTP_1_1_REQUIRED
    assert b"pip install expys-stream[http2]" in frame[17:]
    assert h2_loaded == "False"
    assert "h2 is not installed" in done.stderr


async def test_a_closed_connection_stops_counting_at_once(
    server: ConciergeServer, alice: str
) -> None:
    with anyio.fail_after(5):
        async with connect_h2(server.port) as client:
            stream = await client.request("GET", STREAM, token=alice)
            await server.wait_for_streams(1)
            await client.until(lambda: stream.body.startswith(b"retry: 10\n\n"))
        # The socket is closed; the server's reader may not have run yet.
        assert server.stream_count() == 0
        await server.wait_for_stream_count(0)
