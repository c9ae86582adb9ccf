"""Live delivery, history, resume and event filtering against the concierge."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from client_support import CONVERSATION, collect, subscribed

from expys_stream import Client, MessageDecodeError, StreamClosed, open_message_stream
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio


async def test_live_messages_arrive_in_order(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        await subscribed(server)
        sent = [await server.publish(CONVERSATION, "usr_bob", f"hello {i}") for i in range(20)]
        got = await collect(stream, 20)
    assert got == sent
    assert stream.last_event_id == sent[-1].id
    assert stream.reconnects == 0


async def test_message_fields_are_typed(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        await subscribed(server)
        await server.publish(CONVERSATION, "usr_bob", None)
        await server.publish(CONVERSATION, "usr_bob", "héllo ✔")
        first, second = await collect(stream, 2)
    assert first.body is None
    assert second.body == "héllo ✔"
    assert second.author_id == "usr_bob"
    assert second.conversation_id == CONVERSATION
    assert isinstance(second.created_at, datetime)
    assert second.created_at.tzinfo is not None
    assert second.created_at.utcoffset() == UTC.utcoffset(None)


async def test_other_event_types_are_skipped(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        await subscribed(server)
        await server.publish_event(CONVERSATION, "typing", '{"authorID":"usr_bob"}')
        first = await server.publish(CONVERSATION, "usr_bob", "one")
        await server.publish_event(CONVERSATION, "read", "{}")
        second = await server.publish(CONVERSATION, "usr_bob", "two")
        got = await collect(stream, 2)
    assert got == [first, second]


async def test_history_then_live_without_gap_or_repeat(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    backlog = [await server.publish(CONVERSATION, "usr_bob", f"old {i}") for i in range(30)]
    async with open_message_stream(CONVERSATION, token=token, history=5, **fast) as stream:
        got = await collect(stream, 5)
        assert got == backlog[-5:]
        # Anything published after the backlog request is replayed or live,
        # never lost: the stream resumed after the last history message.
        live = [await server.publish(CONVERSATION, "usr_bob", f"new {i}") for i in range(3)]
        got = await collect(stream, 3)
    assert got == live
    request = next(r for r in server.requests if r.path.endswith("/stream"))
    assert request.headers["last-event-id"] == backlog[-1].id


async def test_history_covers_messages_sent_between_list_and_stream(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    old = await server.publish(CONVERSATION, "usr_bob", "old")
    # The stream request fails once, so the reader waits between the backlog
    # request and the stream: a message sent then must still arrive.
    server.faults.fail_next(1, 503, endpoint="stream")
    async with open_message_stream(CONVERSATION, token=token, history=1, **fast) as stream:
        first = await collect(stream, 1)
        between = await server.publish(CONVERSATION, "usr_bob", "between")
        second = await collect(stream, 1)
    assert first == [old]
    assert second == [between]


async def test_last_event_id_resumes_after_that_message(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    sent = [await server.publish(CONVERSATION, "usr_bob", f"m{i}") for i in range(6)]
    async with open_message_stream(
        CONVERSATION, token=token, last_event_id=sent[2].id, **fast
    ) as stream:
        got = await collect(stream, 3)
    assert got == sent[3:]


async def test_history_and_last_event_id_are_exclusive(token: str, fast: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="history or last_event_id"):
        open_message_stream(CONVERSATION, token=token, history=3, last_event_id="x", **fast)


async def test_client_list_send_and_stream_share_one_pool(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    async with Client(token=token, **fast) as client:
        sent = await client.send_message(CONVERSATION, "from the client")
        page = await client.list_messages(CONVERSATION, limit=10)
        assert page.messages == [sent]
        assert page.has_more is False
        async with client.open_message_stream(CONVERSATION, history=1) as stream:
            assert await collect(stream, 1) == [sent]


async def decode_error(token: str, fast: dict[str, Any]) -> MessageDecodeError:
    """The error that ends a stream (replaying everything) at an invalid message."""
    async with open_message_stream(
        CONVERSATION, token=token, last_event_id="none", **fast
    ) as stream:
        with anyio.fail_after(10), pytest.raises(MessageDecodeError) as info:
            async for _message in stream:
                pass
    return info.value


async def test_invalid_message_raises_with_event_id_and_excerpt(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    before = await server.publish(CONVERSATION, "usr_bob", "fine")
    server.faults.invalid_message('{"id": "msg_x", "body": "no author"}')
    error = await decode_error(token, fast)
    assert error.event_id != ""
    assert "no author" in error.excerpt
    assert before.id  # the valid message was stored before the fault


async def test_a_timestamp_without_an_offset_is_invalid(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    # Message.created_at is documented timezone-aware: a naive one is refused.
    naive = (
        '{"id": "msg_n", "conversationID": "cnv_test", "authorID": "usr_bob", '
        '"createdAt": "2026-11-27T10:15:02"}'
    )
    server.faults.invalid_message(naive)
    error = await decode_error(token, fast)
    assert "timezone" in str(error)
    assert "2026-11-27T10:15:02" in error.excerpt


async def test_invalid_message_skipped_with_a_warning(
    server: ConciergeServer,
    token: str,
    fast: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.faults.invalid_message("not json at all")
    caplog.set_level(logging.WARNING, logger="expys_stream")
    async with open_message_stream(CONVERSATION, token=token, on_invalid="skip", **fast) as stream:
        await subscribed(server)
        good = await server.publish(CONVERSATION, "usr_bob", "after the bad one")
        assert await collect(stream, 1) == [good]
    assert any("invalid message" in r.getMessage() for r in caplog.records)
    assert all(token not in r.getMessage() for r in caplog.records)


async def test_conversation_ids_are_one_path_segment(
    server: ConciergeServer, fast: dict[str, Any]
) -> None:
    odd = "../admin/ x?y#z"
    server.add_conversation(odd)
    odd_token = server.add_member(odd, "usr_carol")
    async with open_message_stream(odd, token=odd_token, **fast) as stream:
        await subscribed(server, 1, odd)
        sent = await server.publish(odd, "usr_carol", "odd")
        assert await collect(stream, 1) == [sent]
    path = next(r.path for r in server.requests if r.path.endswith("/stream"))
    assert path == "/v1/conversations/..%2Fadmin%2F%20x%3Fy%23z/stream"


async def test_thousands_of_invalid_messages_in_a_row_are_skipped(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    async with open_message_stream(CONVERSATION, token=token, on_invalid="skip", **fast) as stream:
        await subscribed(server)
        junk = b"".join(b"id: junk%d\nevent: message\ndata: {}\n\n" % i for i in range(3000))
        await server.send_raw(CONVERSATION, junk)
        good = await server.publish(CONVERSATION, "usr_bob", "survived")
        assert await collect(stream, 1) == [good]


@pytest.mark.parametrize("history", [0, 5])
async def test_closing_the_client_ends_its_open_streams(
    server: ConciergeServer, token: str, fast: dict[str, Any], history: int
) -> None:
    # Closed under a stream, the client neither leaves the stream waiting on
    # a socket nobody owns nor lets it reconnect through a closed pool.
    client = Client(token=token, read_timeout=30, **fast)
    async with client.open_message_stream(CONVERSATION, history=history) as stream:
        await subscribed(server)
        sent = await server.publish(CONVERSATION, "usr_bob", "before the close")
        assert await collect(stream, 1) == [sent]
        await client.aclose()
        with anyio.fail_after(5), pytest.raises(StreamClosed, match="the client was closed"):
            await stream.__anext__()
    assert len([r for r in server.requests if r.path.endswith("/stream")]) == 1
    with pytest.raises(StreamClosed):
        await client.list_messages(CONVERSATION)


async def test_a_stream_closed_before_its_client_is_forgotten_by_it(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    async with Client(token=token, **fast) as client:
        for _ in range(3):
            async with client.open_message_stream(CONVERSATION) as stream:
                await subscribed(server)
            assert stream.reconnects == 0
        assert client._transport._on_close == set()
