"""GET .../stream: the SSE body, replay, fan-out, disconnects and shutdown."""

from __future__ import annotations

import logging

import anyio
import httpcore
import pytest
from concierge_client import BROKEN, Api, RawStream, Stream, path_for
from conftest import DEMO

from expys_stream._models import Message, message_decoder
from expys_stream.sse import ServerSentEvent
from expys_stream.testing import ConciergeServer, serve_concierge

pytestmark = pytest.mark.anyio


def decode(event: ServerSentEvent) -> Message:
    assert event.event == "message"
    message = message_decoder.decode(event.data_bytes)
    assert event.id == message.id
    return message


async def read_messages(stream: Stream, n: int) -> list[Message]:
    with anyio.fail_after(5):
        return [decode(event) for event in await stream.read_events(n)]


# -- the response ------------------------------------------------------------------


async def test_stream_headers_and_retry_line(api: Api, alice: str) -> None:
    async with api.stream(DEMO, alice) as stream:
        assert stream.status == 200
        headers = stream.headers
        assert headers["content-type"] == "text/event-stream; charset=utf-8"
        assert headers["cache-control"] == "no-cache"
        assert headers["transfer-encoding"] == "chunked"
        assert "content-length" not in headers
        with anyio.fail_after(5):
            await stream.read_chunk()
        assert bytes(stream.raw) == b"retry: 10\n\n"
        assert stream.decoder.retry == 10


async def test_retry_ms_is_configurable(pool: httpcore.AsyncConnectionPool) -> None:
    async with serve_concierge(retry_ms=250) as server:
        server.add_conversation(DEMO)
        token = server.add_member(DEMO, "usr_alice")
        async with Api(pool, server.base_url).stream(DEMO, token) as stream:
            with anyio.fail_after(5):
                await stream.read_until_raw(b"\n\n")
            assert bytes(stream.raw) == b"retry: 250\n\n"


async def test_one_http_chunk_per_event(server: ConciergeServer, alice: str) -> None:
    headers = [("authorization", f"Bearer {alice}")]
    async with RawStream.open(server.port, path_for(DEMO, "stream"), headers) as raw:
        with anyio.fail_after(5):
            assert await raw.next_chunk() == b"retry: 10\n\n"
            await server.wait_for_streams(1)
            published = [await server.publish(DEMO, "usr_bob", f"m{i}") for i in range(3)]
            await server.publish_event(DEMO, "typing", '{"authorID":"usr_bob"}')
            for message in published:
                chunk = await raw.next_chunk()
                assert chunk is not None
                assert chunk.startswith(b"id: " + message.id.encode() + b"\nevent: message\n")
                assert chunk.endswith(b"}\n\n")
                assert chunk.count(b"\n\n") == 1
            assert await raw.next_chunk() == b'event: typing\ndata: {"authorID":"usr_bob"}\n\n'


async def test_keepalive_while_idle(pool: httpcore.AsyncConnectionPool) -> None:
    async with serve_concierge(keepalive_interval=0.05) as server:
        server.add_conversation(DEMO)
        token = server.add_member(DEMO, "usr_alice")
        async with Api(pool, server.base_url).stream(DEMO, token) as stream:
            with anyio.fail_after(5):
                await stream.read_until_raw(b": keepalive\n\n: keepalive\n\n")
                assert stream.raw.startswith(b"retry: 10\n\n: keepalive\n\n")
                await server.publish(DEMO, "usr_bob", "after the keepalives")
                (message,) = await read_messages(stream, 1)
            assert message.body == "after the keepalives"


# -- live and replay -------------------------------------------------------------------


async def test_live_delivery(server: ConciergeServer, api: Api, alice: str) -> None:
    await server.publish(DEMO, "usr_bob", "before the stream")
    async with api.stream(DEMO, alice) as stream:
        await server.wait_for_streams(1, DEMO)
        published = [await server.publish(DEMO, "usr_bob", f"live {i}") for i in range(5)]
        assert await read_messages(stream, 5) == published  # nothing from before


async def test_other_events_and_raw_bytes(server: ConciergeServer, api: Api, alice: str) -> None:
    async with api.stream(DEMO, alice) as stream:
        await server.publish_event(DEMO, "read", '{"upTo":"msg_1"}', id="msg_000000000000")
        await server.send_raw(DEMO, b"event: odd\ndata: a\ndata: b\n\n")
        with anyio.fail_after(5):
            first, second = await stream.read_events(2)
        assert first == ServerSentEvent(
            event="read", data='{"upTo":"msg_1"}', id="msg_000000000000"
        )
        assert second == ServerSentEvent(event="odd", data="a\nb", id="msg_000000000000")


async def test_replay_after_known_id_then_live(
    server: ConciergeServer, api: Api, alice: str
) -> None:
    old = [await server.publish(DEMO, "usr_bob", f"old {i}") for i in range(5)]
    async with api.stream(DEMO, alice, last_event_id=old[1].id) as stream:
        assert await read_messages(stream, 3) == old[2:]
        live = await server.publish(DEMO, "usr_bob", "live")
        assert await read_messages(stream, 1) == [live]
    assert server.requests[-1].headers["last-event-id"] == old[1].id


async def test_replay_after_the_last_id_is_empty(
    server: ConciergeServer, api: Api, alice: str
) -> None:
    last = await server.publish(DEMO, "usr_bob", "seen")
    async with api.stream(DEMO, alice, last_event_id=last.id) as stream:
        live = await server.publish(DEMO, "usr_bob", "new")
        assert await read_messages(stream, 1) == [live]


@pytest.mark.parametrize("last_event_id", ["msg_999999999999", "garbage", "", "other"])
async def test_unknown_last_event_id_replays_nothing(
    server: ConciergeServer, api: Api, alice: str, last_event_id: str
) -> None:
    server.add_conversation("cnv_other")
    elsewhere = await server.publish("cnv_other", "usr_bob", "elsewhere")
    await server.publish(DEMO, "usr_bob", "old")
    if last_event_id == "other":
        last_event_id = elsewhere.id  # a real id, of another conversation
    async with api.stream(DEMO, alice, last_event_id=last_event_id) as stream:
        live = await server.publish(DEMO, "usr_bob", "live")
        assert await read_messages(stream, 1) == [live]


@pytest.mark.parametrize("resume_at", [0, 10, 99])
async def test_no_gap_no_duplicate_while_publishing(
    server: ConciergeServer, api: Api, alice: str, resume_at: int
) -> None:
    """Subscribe with Last-Event-ID while another task keeps publishing.

    The publisher publishes before, while and after the stream subscribes:
    some of its messages must come in the replay, the rest live, each once.
    """
    first = [await server.publish(DEMO, "usr_bob", f"before {i}") for i in range(100)]
    published_before_subscribe = 0

    async def publisher() -> None:
        nonlocal published_before_subscribe
        while server.open_streams == 0:
            await server.publish(DEMO, "usr_carol", "during")
            published_before_subscribe += 1
        for _ in range(100):
            await server.publish(DEMO, "usr_carol", "during")
        await server.publish(DEMO, "usr_carol", "the end")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(publisher)
            async with api.stream(DEMO, alice, last_event_id=first[resume_at].id) as stream:
                received: list[Message] = []
                while not received or received[-1].body != "the end":
                    received.append(decode(await stream.next_event()))
    assert published_before_subscribe > 0
    assert received == server.messages(DEMO)[resume_at + 1 :]
    ids = [m.id for m in received]
    assert ids == sorted(set(ids))


# -- fan-out and disconnects --------------------------------------------------------------


async def test_fan_out_to_50_streams(server: ConciergeServer, api: Api, alice: str) -> None:
    got: dict[int, list[Message]] = {}

    async def listen(index: int) -> None:
        async with api.stream(DEMO, alice) as stream:
            got[index] = await read_messages(stream, 3)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for index in range(50):
                tg.start_soon(listen, index)
            await server.wait_for_streams(50)
            assert server.open_streams == 50
            published = [await server.publish(DEMO, "usr_bob", f"to all {i}") for i in range(3)]
        await server.wait_for_stream_count(0)
    assert len(got) == 50
    assert all(messages == published for messages in got.values())


async def test_disconnecting_client_does_not_disturb_others(
    server: ConciergeServer, api: Api, alice: str
) -> None:
    with anyio.fail_after(10):
        async with api.stream(DEMO, alice) as stays, api.stream(DEMO, alice) as also:
            async with api.stream(DEMO, alice) as leaves:
                await server.wait_for_streams(3)
                first = await server.publish(DEMO, "usr_bob", "one")
                assert await read_messages(leaves, 1) == [first]
            await server.wait_for_stream_count(2)  # its subscription is gone
            second = await server.publish(DEMO, "usr_bob", "two")
            assert await read_messages(stays, 2) == [first, second]
            assert await read_messages(also, 2) == [first, second]


async def test_streams_in_other_conversations_are_separate(
    server: ConciergeServer, api: Api, alice: str
) -> None:
    server.add_conversation("cnv_other")
    other_token = server.add_member("cnv_other", "usr_alice")
    async with api.stream(DEMO, alice) as demo, api.stream("cnv_other", other_token) as other:
        await server.wait_for_streams(1, "cnv_other")
        assert server.stream_count(DEMO) == 1
        elsewhere = await server.publish("cnv_other", "usr_bob", "elsewhere")
        here = await server.publish(DEMO, "usr_bob", "here")
        assert await read_messages(demo, 1) == [here]
        assert await read_messages(other, 1) == [elsewhere]


async def test_slow_subscriber_is_disconnected(
    pool: httpcore.AsyncConnectionPool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="expys_stream.testing")
    async with serve_concierge(max_queued_events=5) as server:
        server.add_conversation(DEMO)
        token = server.add_member(DEMO, "usr_alice")
        api = Api(pool, server.base_url)
        server.faults.stall(30)  # the slow reader: its queue is never drained
        async with api.stream(DEMO, token) as slow, api.stream(DEMO, token) as fast:
            with anyio.fail_after(10):
                await server.wait_for_streams(2)
                published = [await server.publish(DEMO, "usr_bob", f"m{i}") for i in range(6)]
                await server.wait_for_stream_count(1)  # the slow one is gone
                with pytest.raises(BROKEN):
                    await slow.read_to_end()
                assert bytes(slow.raw) == b"retry: 10\n\n"
                assert await read_messages(fast, 6) == published
    assert any("(overflow)" in record.getMessage() for record in caplog.records)


async def test_drop_streams_aborts_without_terminator(
    server: ConciergeServer, api: Api, alice: str
) -> None:
    async with api.stream(DEMO, alice) as one, api.stream(DEMO, alice) as two:
        await server.wait_for_streams(2)
        with anyio.fail_after(5):
            await server.drop_streams()
            assert server.open_streams == 0
            for stream in (one, two):
                with pytest.raises(BROKEN):
                    await stream.read_to_end()


async def test_end_streams_ends_cleanly(server: ConciergeServer, api: Api, alice: str) -> None:
    async with api.stream(DEMO, alice) as stream:
        await server.wait_for_streams(1)
        message = await server.publish(DEMO, "usr_bob", "last words")
        assert await read_messages(stream, 1) == [message]
        with anyio.fail_after(5):
            await server.end_streams()
            await stream.read_to_end()  # no error: the chunked body ended properly
        assert stream.ended


async def test_shutdown_with_open_streams_is_prompt(
    pool: httpcore.AsyncConnectionPool,
) -> None:
    outcomes: list[str] = []

    async def listen(api: Api, token: str) -> None:
        async with api.stream(DEMO, token) as stream:
            try:
                await stream.read_to_end()
            except BROKEN:
                outcomes.append("closed")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as clients:
            async with serve_concierge() as server:
                server.add_conversation(DEMO)
                token = server.add_member(DEMO, "usr_alice")
                api = Api(pool, server.base_url)
                for _ in range(5):
                    clients.start_soon(listen, api, token)
                await server.wait_for_streams(5)
                started = anyio.current_time()
            assert anyio.current_time() - started < 1.0
    assert outcomes == ["closed"] * 5
    with pytest.raises(httpcore.ConnectError):
        await Api(pool, server.base_url).list(DEMO, token)


async def test_a_server_starts_only_once() -> None:
    server = serve_concierge()
    async with server:
        pass
    with pytest.raises(RuntimeError):
        async with server:
            pass
