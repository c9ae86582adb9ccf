"""Comments among the events, in stream order, on both kinds of stream."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from client_support import CONVERSATION, Scripted, http_response, running, subscribed

from expys_stream import (
    Client,
    Comment,
    Connected,
    Message,
    RetryLimitExceeded,
    ServerSentEvent,
    open_event_stream,
    open_item_stream,
)
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio

FAST = {"backoff_base": 0.01, "backoff_cap": 0.02}
BODY = b": first\n\nid: 1\ndata: a\n: inside\ndata: b\n\n:last\n\ndata: c\n\n"


async def drain(stream: Any) -> list[Any]:
    with anyio.fail_after(10):
        return [item async for item in stream]


async def test_comments_come_before_and_after_events_in_stream_order() -> None:
    async with (
        running(Scripted([http_response(200, BODY), http_response(204)])) as scripted,
        open_item_stream(scripted.url + "/s", lifecycle=False, **FAST) as stream,
    ):
        got = await drain(stream)
        assert stream.last_event_id == "1"  # comments do not move it
    shown = [
        ("comment", item.text) if isinstance(item, Comment) else ("event", item.data)
        for item in got
    ]
    assert shown == [
        ("comment", "first"),
        ("comment", "inside"),  # inside the block: before its event
        ("event", "a\nb"),
        ("comment", "last"),
        ("event", "c"),
    ]
    assert stream.stats.events == 2  # events, not comments


async def test_without_comments_the_same_bytes_give_the_events_only() -> None:
    async with (
        running(Scripted([http_response(200, BODY), http_response(204)])) as scripted,
        open_event_stream(scripted.url + "/s", **FAST) as stream,
    ):
        got = await drain(stream)
    assert [event.data for event in got] == ["a\nb", "c"]


async def test_comments_and_connection_events_interleave() -> None:
    async with (
        running(Scripted([http_response(200, b": hi\n\ndata: a\n\n")])) as scripted,
        open_item_stream(scripted.url + "/s", max_retries=0, **FAST) as stream,
    ):
        got: list[Any] = []
        with pytest.raises(RetryLimitExceeded), anyio.fail_after(10):
            async for item in stream:
                got.append(item)
    names = [type(item).__name__ for item in got]
    assert names == [
        "Connecting",
        "Connected",
        "Comment",
        "ServerSentEvent",
        "Disconnected",
        "GaveUp",
    ]


async def test_on_event_gets_other_events_and_comments_in_order(
    server: ConciergeServer, token: str
) -> None:
    log: list[tuple[str, Any]] = []

    def on_event(item: Any) -> None:
        if isinstance(item, ServerSentEvent):
            log.append((item.event, item.data))
        elif isinstance(item, Comment) and item.text == "ping":
            log.append(("comment", item.text))
        elif isinstance(item, Connected):
            log.append(("connected", item.status))

    async with (
        Client(token=token, base_url=server.base_url, backoff_base=0.01) as client,
        client.open_message_stream(CONVERSATION, on_event=on_event) as stream,
    ):
        await subscribed(server)
        first = await server.publish(CONVERSATION, "usr_bob", "one")
        await server.publish_event(CONVERSATION, "typing", '{"user": "usr_bob"}')
        await server.send_raw(CONVERSATION, b": ping\n\n")
        await server.publish_event(CONVERSATION, "read", '{"user": "usr_bob"}')
        second = await server.publish(CONVERSATION, "usr_bob", "two")
        with anyio.fail_after(10):
            async for message in stream:
                assert isinstance(message, Message)  # the iterator yields messages only
                log.append(("message", message.id))
                if message.id == second.id:
                    break
        assert stream.stats.events >= 4
    assert log == [
        ("connected", 200),
        ("message", first.id),
        ("typing", '{"user": "usr_bob"}'),
        ("comment", "ping"),
        ("read", '{"user": "usr_bob"}'),
        ("message", second.id),
    ]


def test_on_event_must_be_callable() -> None:
    client = Client(token="t", base_url="http://127.0.0.1:9")
    with pytest.raises(TypeError, match="on_event"):
        client.open_message_stream(CONVERSATION, on_event=3)  # type: ignore[arg-type]
