"""Drops, mid-event cuts, stalls: every message exactly once, in order."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest
from client_support import CONVERSATION, Scripted, collect, http_response, running, subscribed

from expys_stream import open_message_stream
from expys_stream._client import Client
from expys_stream.testing import ConciergeServer
from expys_stream.testing._wire import message_event, retry_line

pytestmark = pytest.mark.anyio


def stream_requests(server: ConciergeServer) -> list[Any]:
    return [r for r in server.requests if r.path.endswith("/stream")]


async def publish_many(server: ConciergeServer, count: int, prefix: str = "m") -> list[Any]:
    return [await server.publish(CONVERSATION, "usr_bob", f"{prefix}{i}") for i in range(count)]


async def read_across_a_cut(
    server: ConciergeServer,
    token: str,
    fast: dict[str, Any],
    cut: int,
    bulk: bool,
    *,
    reset: bool = False,
) -> tuple[list[Any], int, list[Any], int]:
    """Thirteen messages; the first connection replays sent[1:] after
    sent[0] and is cut (or reset) ``cut`` bytes after the end of its first
    event. Returns what was sent, the cut's offset, what the stream gave
    and how often it reconnected."""
    sent = [await server.publish(CONVERSATION, "usr_bob", f"m{i:02}") for i in range(13)]
    offset = len(retry_line(1)) + len(message_event(sent[1])) + cut
    server.faults.drop_at_byte(offset, reset=reset)
    client = Client(token=token, **fast)
    stream = client._stream(CONVERSATION, sent[0].id, 0, "raise", owns=True)
    stream._bulk_body = bulk
    async with stream:
        got = await collect(stream, 12)
    return sent, offset, got, stream.reconnects


async def test_drop_after_events_resumes_with_last_event_id(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    backlog = await publish_many(server, 10)
    server.faults.drop_after_events(4)
    async with open_message_stream(
        CONVERSATION, token=token, last_event_id=backlog[0].id, **fast
    ) as stream:
        got = await collect(stream, 9)
    assert got == backlog[1:]
    assert stream.reconnects == 1
    requests = stream_requests(server)
    assert requests[0].headers["last-event-id"] == backlog[0].id
    assert requests[1].headers["last-event-id"] == backlog[4].id


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk-body", "httpcore-body"])
@pytest.mark.parametrize("cut", [0, 1, 7, 40, 95, 150, 333, 512])
async def test_drop_in_the_middle_of_an_event_loses_and_repeats_nothing(
    server: ConciergeServer, token: str, fast: dict[str, Any], cut: int, bulk: bool
) -> None:
    # The cut falls inside an id line, a data line, between events...
    sent, _offset, got, reconnects = await read_across_a_cut(server, token, fast, cut, bulk)
    assert got == sent[1:]
    assert reconnects == 1


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk-body", "httpcore-body"])
@pytest.mark.parametrize("cut", [0, 40, 333])
async def test_a_reset_connection_loses_and_repeats_nothing(
    server: ConciergeServer,
    token: str,
    fast: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    cut: int,
    bulk: bool,
) -> None:
    # A TCP reset instead of an orderly close: the read fails with
    # "connection reset" rather than ending, and bytes still in flight when
    # the server resets may never arrive, so the resume point is whatever
    # the client had seen complete.
    caplog.set_level(logging.INFO, logger="expys_stream")
    sent, offset, got, reconnects = await read_across_a_cut(
        server, token, fast, cut, bulk, reset=True
    )
    assert got == sent[1:]
    assert reconnects == 1
    requests = stream_requests(server)
    assert len(requests) == 2
    # It resumes after an event that had arrived whole before the cut.
    whole = [sent[0].id]
    end = len(retry_line(1))
    for message in sent[1:]:
        end += len(message_event(message))
        if end > offset:
            break
        whole.append(message.id)
    assert requests[1].headers["last-event-id"] in whole
    # The log names the OS's reason, not only an exception class.
    reasons = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reconnecting")]
    assert len(reasons) == 1
    assert "Connection reset by peer" in reasons[0]


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_many_drops_while_messages_keep_coming(
    server: ConciergeServer, token: str, fast: dict[str, Any], reset: bool
) -> None:
    sent: list[Any] = []
    got: list[Any] = []
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        await subscribed(server)
        for round_ in range(5):
            sent += await publish_many(server, 7, prefix=f"r{round_}-")
            server.faults.drop_at_byte(150 + 37 * round_)
            await server.drop_streams(CONVERSATION, reset=reset)
            got += await collect(stream, 7)
    assert got == sent
    assert [m.id for m in got] == sorted(m.id for m in got)
    assert stream.reconnects >= 5


async def test_trickled_bytes_decode_the_same(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    server.faults.trickle()
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        await subscribed(server)
        sent = await publish_many(server, 3)
        assert await collect(stream, 3) == sent


async def test_silence_past_the_read_timeout_reconnects(
    server: ConciergeServer, token: str, fast: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="expys_stream")
    server.faults.stall(30)
    async with open_message_stream(CONVERSATION, token=token, read_timeout=0.3, **fast) as stream:
        with anyio.fail_after(10):
            while len(stream_requests(server)) < 2:
                await anyio.sleep(0.02)
        await subscribed(server)
        sent = await server.publish(CONVERSATION, "usr_bob", "after the stall")
        assert await collect(stream, 1) == [sent]
    assert stream.reconnects == 1
    assert any("read timeout" in r.getMessage() for r in caplog.records)


async def test_keepalives_count_as_traffic(token: str) -> None:
    from expys_stream.testing import serve_concierge

    async with serve_concierge(retry_ms=1, keepalive_interval=0.05) as server:
        server.add_conversation(CONVERSATION)
        token = server.add_member(CONVERSATION, "usr_alice")
        async with open_message_stream(
            CONVERSATION, token=token, base_url=server.base_url, read_timeout=0.5
        ) as stream:
            await subscribed(server)
            await anyio.sleep(1.5)  # three read timeouts' worth of keepalives only
            sent = await server.publish(CONVERSATION, "usr_bob", "still here")
            assert await collect(stream, 1) == [sent]
        assert stream.reconnects == 0


async def test_a_slow_consumer_is_not_silence(token: str) -> None:
    # 2000 messages are more than the client buffers (two socket reads), so
    # its reader waits on the consumer for longer than the read timeout.
    # That wait is not silence: no reconnect, nothing lost.
    from expys_stream.testing import serve_concierge

    async with serve_concierge(retry_ms=1, keepalive_interval=0.1) as server:
        server.add_conversation(CONVERSATION)
        token = server.add_member(CONVERSATION, "usr_alice")
        async with open_message_stream(
            CONVERSATION, token=token, base_url=server.base_url, read_timeout=0.5
        ) as stream:
            await subscribed(server)
            sent = await publish_many(server, 2000)
            got = await collect(stream, 1)
            await anyio.sleep(1.5)
            got += await collect(stream, 1999, timeout=30)
        assert got == sent
        assert stream.reconnects == 0


async def test_the_server_retry_field_is_a_floor(token: str) -> None:
    from expys_stream.testing import serve_concierge

    async with serve_concierge(retry_ms=800) as server:
        server.add_conversation(CONVERSATION)
        token = server.add_member(CONVERSATION, "usr_alice")
        async with open_message_stream(
            CONVERSATION, token=token, base_url=server.base_url, backoff_base=0.01
        ) as stream:
            await subscribed(server)
            # Once a message is through, the retry line before it was read.
            first = await server.publish(CONVERSATION, "usr_bob", "first")
            assert await collect(stream, 1) == [first]
            started = anyio.current_time()
            await server.drop_streams(CONVERSATION)
            await subscribed(server)
            waited = anyio.current_time() - started
        assert waited >= 0.8
        assert stream.reconnects == 1


async def test_accept_then_drop_never_spins(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    # Every connection is dropped at once: the client must keep waiting
    # between attempts (backoff), so a second's worth of attempts is small.
    for _ in range(200):
        server.faults.drop_at_byte(0)
    async with open_message_stream(
        CONVERSATION, token=token, base_url=server.base_url, backoff_base=0.05, backoff_cap=0.2
    ) as stream:
        with anyio.move_on_after(1.0):
            async for _message in stream:
                pass
    assert 2 <= len(stream_requests(server)) <= 60


def _chat_event(n: int, eol: bytes) -> bytes:
    data = (
        b'{"id":"msg_%d","conversationID":"c","authorID":"a","createdAt":"2026-11-27T10:15:02Z"}'
        % n
    )
    lines = [b"id: msg_%d" % n, b"event: message", b"data: " + data, b""]
    return eol.join(lines) + eol


@pytest.mark.parametrize(
    ("first_eol", "second_eol"),
    [(b"\n", b"\n"), (b"\n", b"\r\n"), (b"\r\n", b"\n")],
    ids=["lf-then-lf", "lf-then-crlf", "crlf-then-lf"],
)
async def test_a_server_that_replays_delivered_messages_repeats_nothing(
    first_eol: bytes, second_eol: bytes
) -> None:
    # The second connection ignores Last-Event-ID and starts over, with
    # other line ends: the replayed messages are recognised by their ids.
    first = b"".join(_chat_event(n, first_eol) for n in (1, 2))
    second = b"".join(_chat_event(n, second_eol) for n in (1, 2, 3))
    server = Scripted([http_response(200, first), http_response(200, second), http_response(204)])
    async with (
        running(server),
        open_message_stream("c", token="t", base_url=server.url, backoff_base=0.01) as stream,
    ):
        with anyio.fail_after(10):
            got = [message.id async for message in stream]
    assert got == ["msg_1", "msg_2", "msg_3"]
    assert server.header(1, b"last-event-id") == b"msg_2"
    assert stream.reconnects == 2
