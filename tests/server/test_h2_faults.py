"""Faults on HTTP/2: drops and resets of one stream, GOAWAY, a server that stops reading or
acknowledging; each seen by a raw h2 client, on asyncio and trio."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from h2_client import RawH2, connect_h2

from expys_stream.testing import ConciergeServer, ConciergeThread, serve_concierge

pytestmark = pytest.mark.anyio

DEMO = "cnv_demo"
MESSAGES = f"/v1/conversations/{DEMO}/messages"
STREAM = f"/v1/conversations/{DEMO}/stream"
INTERNAL_ERROR = 0x2
ENHANCE_YOUR_CALM = 0xB


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


async def test_drop_after_events_ends_the_stream_and_spares_the_other(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    with anyio.fail_after(5):
        kept = await client.request("GET", STREAM, token=alice)
        await server.wait_for_streams(1)
        server.faults.drop_after_events(1)
        dropped = await client.request("GET", STREAM, token=alice)
        await server.wait_for_streams(2)
        await server.publish(DEMO, "usr_alice", "one")
        await client.until(lambda: dropped.closed)
        await server.publish(DEMO, "usr_alice", "two")
        await client.until(lambda: kept.messages() == ["one", "two"])
    assert (dropped.ended, dropped.reset_code) == (True, None)  # END_STREAM
    assert dropped.messages() == ["one"]
    assert server.connections()[0].streams_open == 1


async def test_drop_with_reset_sends_rst_stream(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    server.faults.drop_after_events(0, reset=True)
    with anyio.fail_after(5):
        response = await client.get(STREAM, alice)
        listed = await client.get(MESSAGES, alice)  # the connection lives on
    assert response.reset_code == INTERNAL_ERROR
    assert response.body == b"retry: 10\n\n"
    assert listed.status == 200
    assert server.connections()[0].resets_sent == 1


async def test_drop_at_byte_ends_mid_event(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    server.faults.drop_at_byte(30)
    with anyio.fail_after(5):
        response = await client.request("GET", STREAM, token=alice)
        await server.wait_for_streams(1)
        await server.publish(DEMO, "usr_alice", "cut in the middle")
        await client.until(lambda: response.closed)
    assert (response.ended, response.reset_code) == (True, None)
    assert len(response.body) == 30
    assert response.body.startswith(b"retry: 10\n\nid: msg_")
    assert response.messages() == []


async def test_reset_stream_sends_the_chosen_error_code(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    server.faults.reset_stream(1, error_code=ENHANCE_YOUR_CALM)
    with anyio.fail_after(5):
        response = await client.request("GET", STREAM, token=alice)
        await server.wait_for_streams(1)
        await server.publish(DEMO, "usr_alice", "one")
        await client.until(lambda: response.closed)
    assert response.reset_code == ENHANCE_YOUR_CALM
    assert response.messages() == ["one"]
    assert server.faults.pending == 0


async def test_drop_streams_ends_the_streams_and_keeps_the_connection(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    with anyio.fail_after(5):
        first = await client.request("GET", STREAM, token=alice)
        second = await client.request("GET", STREAM, token=alice)
        await server.wait_for_streams(2)
        await server.drop_streams(reset=True)
        await client.until(lambda: first.closed and second.closed)
        third = await client.request("GET", STREAM, token=alice)
        await server.wait_for_streams(1)
        await server.drop_streams()
        await client.until(lambda: third.closed)
    assert (first.reset_code, second.reset_code) == (INTERNAL_ERROR, INTERNAL_ERROR)
    assert (third.ended, third.reset_code) == (True, None)
    [connection] = server.connections()
    assert (connection.streams_total, connection.streams_open) == (3, 0)


async def test_goaway_keeps_streams_up_to_last_stream_id(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    with anyio.fail_after(5):
        kept = await client.request("GET", STREAM, token=alice)
        await server.wait_for_streams(1)
        cut = await client.request("GET", STREAM, token=alice)
        await server.wait_for_streams(2)
        await server.goaway(last_stream_id=kept.stream_id)
        await client.until(lambda: client.goaway is not None)
        await server.wait_for_stream_count(1)
        await server.publish(DEMO, "usr_alice", "still here")
        await client.until(lambda: kept.messages() == ["still here"])
        requests = len(server.requests)
        late = await client.request("GET", STREAM, token=alice)
        await client.ping()  # the server has read the late request by now
    assert client.goaway is not None
    assert (client.goaway.last_stream_id, client.goaway.error_code) == (1, 0)
    assert cut.messages() == []
    assert (late.status, late.closed) == (None, False)  # ignored, as RFC 9113 says
    assert len(server.requests) == requests
    [connection] = server.connections()
    assert (connection.goaway_last_stream_id, connection.streams_total) == (1, 2)


async def test_a_thread_concierge_sends_goaway() -> None:
    with ConciergeThread() as server:
        server.add_conversation(DEMO)
        token = server.add_member(DEMO, "usr_alice")
        with anyio.fail_after(5):
            async with connect_h2(server.port) as client:
                await client.get(MESSAGES, token)
                await server.agoaway(error_code=INTERNAL_ERROR)
                await client.until(lambda: client.goaway is not None)
                [connection] = server.connections()
    assert client.goaway is not None
    assert (client.goaway.last_stream_id, client.goaway.error_code) == (1, INTERNAL_ERROR)
    assert connection.goaway_last_stream_id == 1


async def test_goaway_with_an_error_code(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    with anyio.fail_after(5):
        await client.get(MESSAGES, alice)
        await server.goaway(error_code=INTERNAL_ERROR)
        await client.until(lambda: client.goaway is not None)
    assert client.goaway is not None
    assert (client.goaway.last_stream_id, client.goaway.error_code) == (1, INTERNAL_ERROR)


async def test_stop_reading_leaves_pings_unanswered_until_it_ends(
    server: ConciergeServer, alice: str
) -> None:
    server.faults.stop_reading(0.2)
    with anyio.fail_after(5):
        async with connect_h2(server.port) as client:
            await client.get(MESSAGES, alice)
            while server.connections()[0].reading:
                await anyio.sleep(0.001)
            await client.ping()  # answered only once the server reads again
            assert server.connections()[0].reading
    assert server.faults.pending == 0


async def test_stop_acknowledging_fills_the_clients_window(
    server: ConciergeServer, alice: str
) -> None:
    server.faults.stop_acknowledging()
    with anyio.fail_after(5):
        async with connect_h2(server.port) as stalled:
            response = await stalled.request("POST", MESSAGES, token=alice, end=False)
            await send_body(stalled, response.stream_id, 65535)  # the whole first window
            while server.connections()[0].bytes_received < 65535:
                await anyio.sleep(0.001)
            await stalled.ping()  # any WINDOW_UPDATE would have come before the ACK
            assert stalled.h2.local_flow_control_window(response.stream_id) == 0
        async with connect_h2(server.port) as normal:  # the fault was for one connection
            response = await normal.request("POST", MESSAGES, token=alice, end=False)
            await send_body(normal, response.stream_id, 65535)
            await normal.until(lambda: normal.h2.local_flow_control_window(1) > 0)


async def send_body(client: RawH2, stream_id: int, size: int) -> None:
    """Send ``size`` bytes of request body, as the windows allow."""
    while size:
        await client.until(lambda: client.h2.local_flow_control_window(stream_id) > 0)
        window = client.h2.local_flow_control_window(stream_id)
        piece = min(window, client.h2.max_outbound_frame_size, size)
        client.h2.send_data(stream_id, b" " * piece)
        await client.flush()
        size -= piece


async def test_reply_faults_answer_over_http2(
    server: ConciergeServer, client: RawH2, alice: str
) -> None:
    server.faults.fail_next(1, 503, retry_after=3)
    server.faults.internal_error(endpoint="list")
    with anyio.fail_after(5):
        unavailable = await client.get(STREAM, alice)
        crashed = await client.get(MESSAGES, alice)
    assert (unavailable.status, unavailable.headers["retry-after"]) == (503, "3")
    assert crashed.status == 500
    assert crashed.json()["error"]["code"] == "internal_error"
