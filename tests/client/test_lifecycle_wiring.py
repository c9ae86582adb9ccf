"""The connection's events, state and statistics, as the streams report them.

Scripted servers give exact control of each response; the concierge gives
a real stall. Every stream here is an ``open_item_stream``, whose
``async for`` yields the connection's events among the server's.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from client_support import CONVERSATION, Scripted, http_response, running

from expys_stream import (
    Connected,
    Connecting,
    Disconnected,
    GaveUp,
    HTTPStatusError,
    ReadTimeout,
    Retrying,
    RetryLimitExceeded,
    ServerSentEvent,
    StreamState,
    TransportError,
    open_event_stream,
    open_item_stream,
)
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio

FAST = {"backoff_base": 0.01, "backoff_cap": 0.02}


async def items_until(stream: Any, done: Any, timeout: float = 10) -> list[Any]:
    """Items of ``stream`` up to and including the first for which ``done`` holds."""
    got: list[Any] = []
    with anyio.fail_after(timeout):
        async for item in stream:
            got.append(item)
            if done(item):
                break
    return got


async def all_items(stream: Any, timeout: float = 10) -> list[Any]:
    got: list[Any] = []
    with anyio.fail_after(timeout):
        async for item in stream:
            got.append(item)
    return got


def kinds(items: list[Any]) -> list[str]:
    return [type(item).__name__ for item in items]


async def test_a_read_timeout_is_a_visible_disconnect_and_retry(
    server: ConciergeServer, token: str
) -> None:
    server.faults.stall(30)
    url = f"{server.base_url}/v1/conversations/{CONVERSATION}/stream"
    async with open_item_stream(url, token=token, read_timeout=0.3, **FAST) as stream:
        got = await items_until(
            stream, lambda item: isinstance(item, Connected) and item.attempt == 2
        )
        assert stream.state is StreamState.OPEN
    assert kinds(got) == [
        "Connecting",
        "Connected",
        "Disconnected",
        "Retrying",
        "Connecting",
        "Connected",
    ]
    connecting, connected, dropped, retrying = got[:4]
    assert connecting == Connecting(1, "GET", url)
    assert connected.status == 200
    assert connected.resume_id == ""
    assert ("content-type", "text/event-stream") in [
        (name, value.split(";")[0]) for name, value in connected.headers
    ]
    assert isinstance(dropped.error, ReadTimeout)
    assert dropped.was_open
    assert dropped.duration > 0
    assert retrying.attempt == 2
    assert retrying.error is dropped.error
    assert retrying.delay >= 0
    assert stream.state is StreamState.CLOSED
    assert stream.reconnects == 1


async def test_a_retry_field_floor_shows_in_the_delay_and_its_reason() -> None:
    body = b"retry: 300\ndata: a\n\n"
    async with (
        running(Scripted([http_response(200, body), http_response(204)])) as scripted,
        open_item_stream(scripted.url + "/s", **FAST) as stream,
    ):
        got = await all_items(stream)
    retrying = [item for item in got if isinstance(item, Retrying)]
    assert len(retrying) == 1
    assert retrying[0].delay == pytest.approx(0.3)
    assert retrying[0].reason == "retry_field"
    assert isinstance(retrying[0].error, TransportError)  # the server closed it


async def test_a_server_delay_past_the_cap_is_reported_capped() -> None:
    body = b"retry: 100000\ndata: a\n\n"
    async with (
        running(Scripted([http_response(200, body), http_response(204)])) as scripted,
        open_item_stream(scripted.url + "/s", max_server_delay=0.05, **FAST) as stream,
    ):
        got = await all_items(stream)
    (retrying,) = [item for item in got if isinstance(item, Retrying)]
    assert retrying.reason == "capped"
    assert retrying.delay == pytest.approx(0.05)


async def test_a_retry_after_floor_is_reported() -> None:
    responses = [http_response(503, headers={"Retry-After": "1"}), http_response(204)]
    async with (
        running(Scripted(responses)) as scripted,
        open_item_stream(scripted.url + "/s", **FAST) as stream,
    ):
        got = await all_items(stream)
    (retrying,) = [item for item in got if isinstance(item, Retrying)]
    assert (retrying.reason, retrying.delay) == ("retry_after", 1.0)
    assert isinstance(retrying.error, HTTPStatusError)
    assert retrying.error.status == 503


async def test_204_closes_for_good_without_a_retry() -> None:
    async with (
        running(Scripted([http_response(204)])) as scripted,
        open_item_stream(scripted.url + "/s", **FAST) as stream,
    ):
        got = await all_items(stream)
        assert stream.state is StreamState.CLOSED
        assert len(scripted.heads) == 1
    assert kinds(got) == ["Connecting", "Disconnected"]
    assert got[1] == Disconnected(None, False, 0.0)
    assert stream.stats.reconnects == 0
    assert stream.stats.connections == 0


async def test_gave_up_after_max_retries_comes_before_the_error() -> None:
    responses = [http_response(503), http_response(503)]
    async with (
        running(Scripted(responses)) as scripted,
        open_item_stream(scripted.url + "/s", max_retries=1, **FAST) as stream,
    ):
        got: list[Any] = []
        with pytest.raises(RetryLimitExceeded) as raised, anyio.fail_after(10):
            async for item in stream:
                got.append(item)
        assert stream.state is StreamState.CLOSED
    assert kinds(got) == [
        "Connecting",
        "Disconnected",
        "Retrying",
        "Connecting",
        "Disconnected",
        "GaveUp",
    ]
    assert isinstance(got[4].error, HTTPStatusError)  # what ended the attempt
    assert got[5] == GaveUp(raised.value)  # what the async for raised


async def test_a_final_error_gives_up_at_once() -> None:
    async with (
        running(Scripted([http_response(403)])) as scripted,
        open_item_stream(scripted.url + "/s", **FAST) as stream,
    ):
        got: list[Any] = []
        with pytest.raises(HTTPStatusError), anyio.fail_after(10):
            async for item in stream:
                got.append(item)
    assert kinds(got) == ["Connecting", "Disconnected", "GaveUp"]
    assert got[1].error.status == 403
    assert not got[1].was_open


async def test_stats_right_after_a_drop() -> None:
    body = b"id: 1\ndata: a\n\nid: 2\ndata: b\n\n"
    async with (
        running(Scripted([http_response(200, body), http_response(204)])) as scripted,
        open_item_stream(scripted.url + "/s", **FAST) as stream,
    ):
        assert stream.stats.attempts == 0
        got = await items_until(stream, lambda item: isinstance(item, Retrying))
        stats = stream.stats
        assert (stats.attempts, stats.connections, stats.reconnects) == (1, 1, 0)
        assert stats.events == 2
        assert stats.bytes == len(body)
        assert stats.last_byte_at is not None
        assert stats.connected_since is None  # not connected while waiting
        dropped = got[-2]
        assert isinstance(dropped, Disconnected)
        assert dropped.was_open
        assert stats.time_connected() == pytest.approx(dropped.duration)
        assert [i.data for i in got if isinstance(i, ServerSentEvent)] == ["a", "b"]
        rest = await all_items(stream)
        assert stream.stats.attempts == 2
        assert stream.stats.reconnects == 1
        assert stream.reconnects == 1
        assert stream.last_event_id == "2"
        assert scripted.header(1, b"last-event-id") == b"2"
    assert kinds(rest) == ["Connecting", "Disconnected"]


async def test_observers_see_every_event_in_order_and_each_batch() -> None:
    seen: list[Any] = []
    batches: list[list[str]] = []

    class Watcher:
        def on_lifecycle(self, event: Any, stats: Any) -> None:
            seen.append(event)

        def on_items(self, items: Any) -> None:
            batches.append([item.data for item in items])

    class Broken:
        def on_lifecycle(self, event: Any, stats: Any) -> None:
            raise RuntimeError("an observer's bug")

    body = b"data: a\n\n"
    async with (
        running(Scripted([http_response(200, body), http_response(204)])) as scripted,
        open_event_stream(scripted.url + "/s", observers=[Broken(), Watcher()], **FAST) as s,
    ):
        events = [event.data async for event in s]
    assert events == ["a"]  # the plain stream yields events only
    assert kinds(seen) == [
        "Connecting",
        "Connected",
        "Disconnected",
        "Retrying",
        "Connecting",
        "Disconnected",
    ]
    assert batches == [["a"]]
    assert s.state is StreamState.CLOSED


async def test_closing_the_stream_ends_the_attempt_without_an_error(
    server: ConciergeServer, token: str
) -> None:
    seen: list[Any] = []

    class Watcher:
        def on_lifecycle(self, event: Any, stats: Any) -> None:
            seen.append(event)

    url = f"{server.base_url}/v1/conversations/{CONVERSATION}/stream"
    async with open_event_stream(url, token=token, observers=[Watcher()]) as stream:
        with anyio.fail_after(10):
            await server.wait_for_streams(1, CONVERSATION)
            while stream.state is not StreamState.OPEN:
                await anyio.sleep(0.01)
    assert kinds(seen) == ["Connecting", "Connected", "Disconnected"]
    assert seen[-1].error is None
    assert seen[-1].was_open
    assert stream.state is StreamState.CLOSED


def test_bad_observers_and_flags_are_refused_before_any_io() -> None:
    with pytest.raises(TypeError, match="on_lifecycle"):
        open_event_stream("http://127.0.0.1:9/s", observers=[object()])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="iterable"):
        open_event_stream("http://127.0.0.1:9/s", observers=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="lifecycle must be a bool"):
        open_item_stream("http://127.0.0.1:9/s", lifecycle=1)  # type: ignore[arg-type]
