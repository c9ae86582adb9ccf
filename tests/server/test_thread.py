"""ConciergeThread: the server on its own loop in a background thread."""

from __future__ import annotations

import time

import anyio
import httpcore
import pytest
from concierge_client import BROKEN, Api, path_for

from expys_stream._models import Message, message_decoder
from expys_stream.sse import SSEDecoder
from expys_stream.testing import ConciergeThread

DEMO = "cnv_demo"


def sync_get(pool: httpcore.ConnectionPool, url: str, token: str) -> httpcore.Response:
    return pool.request("GET", url, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_use(backend: str) -> None:
    with ConciergeThread(backend=backend) as server, httpcore.ConnectionPool() as pool:  # type: ignore[arg-type]
        assert server.add_conversation(DEMO) == DEMO
        token = server.add_member(DEMO, "usr_alice")
        first = server.publish(DEMO, "usr_bob", "hello")
        assert isinstance(first, Message)
        assert server.messages(DEMO) == [first]
        page = sync_get(pool, server.base_url + path_for(DEMO, "messages"), token)
        assert page.status == 200
        assert first.id.encode() in page.content

        url = server.base_url + path_for(DEMO, "stream")
        headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": first.id}
        with pool.stream("GET", url, headers=headers) as response:
            assert response.status == 200
            server.wait_for_streams(1, timeout=5)
            assert server.open_streams == 1
            assert server.stream_count(DEMO) == 1
            second = server.publish(DEMO, "usr_bob", "live")
            server.publish_event(DEMO, "typing", "{}")
            server.send_raw(DEMO, b": raw comment\n")
            decoder = SSEDecoder()
            events = []
            chunks = response.iter_stream()
            while len(events) < 2:
                events += decoder.feed(next(chunks))
            assert message_decoder.decode(events[0].data_bytes) == second
            assert events[1].event == "typing"
            server.drop_streams()
            with pytest.raises(BROKEN):
                for _ in chunks:
                    pass
        server.wait_for_stream_count(0, timeout=5)
        assert [r.path for r in server.requests] == [
            path_for(DEMO, "messages"),
            path_for(DEMO, "stream"),
        ]
        assert server.requests[1].headers["last-event-id"] == first.id


def test_faults_and_tokens_from_another_thread() -> None:
    with ConciergeThread() as server, httpcore.ConnectionPool() as pool:
        server.add_conversation(DEMO)
        server.add_user("usr_outsider")
        outsider = server.issue_token("usr_outsider")
        token = server.add_member(DEMO, "usr_alice")
        url = server.base_url + path_for(DEMO, "messages")
        assert sync_get(pool, url, outsider).status == 403
        server.faults.fail_next(1, 503, endpoint="list")
        assert sync_get(pool, url, token).status == 503
        server.expire_token(token)
        assert sync_get(pool, url, token).status == 401
        server.remove_member(DEMO, "usr_alice")
        assert sync_get(pool, url, server.issue_token("usr_alice")).status == 403


def test_starts_and_stops_quickly_with_open_streams() -> None:
    started = time.monotonic()
    with httpcore.ConnectionPool() as pool, ConciergeThread() as server:
        server.add_conversation(DEMO)
        token = server.add_member(DEMO, "usr_alice")
        url = server.base_url + path_for(DEMO, "stream")
        with pool.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as r:
            server.wait_for_streams(1, timeout=5)
            stopping = time.monotonic()
            server.__exit__(None, None, None)  # stop it now; leaving the block again is a no-op
            assert time.monotonic() - stopping < 1.0
            with pytest.raises(BROKEN):
                for _ in r.iter_stream():
                    pass
    assert time.monotonic() - started < 3.0


def test_wait_for_streams_times_out() -> None:
    with ConciergeThread() as server, pytest.raises(TimeoutError):
        server.wait_for_streams(1, timeout=0.05)


def test_not_running() -> None:
    server = ConciergeThread()
    with pytest.raises(RuntimeError):
        server.add_conversation(DEMO)
    with server, pytest.raises(RuntimeError):
        server.__enter__()
    with pytest.raises(RuntimeError):
        server.publish(DEMO, "usr_bob", "x")


@pytest.mark.anyio
async def test_awaitable_methods_from_async_code(anyio_backend: str) -> None:
    with ConciergeThread() as server:
        server.add_conversation(DEMO)
        token = server.add_member(DEMO, "usr_alice")
        async with httpcore.AsyncConnectionPool() as pool:
            api = Api(pool, server.base_url)
            async with api.stream(DEMO, token) as one, api.stream(DEMO, token) as two:
                with anyio.fail_after(5):
                    await server.await_for_streams(2)
                    message = await server.apublish(DEMO, "usr_bob", "hi")
                    await server.apublish_event(DEMO, "typing", "{}", id=message.id)
                    await server.asend_raw(DEMO, b"data: raw\n\n")
                    events = await one.read_events(3)
                    assert message_decoder.decode(events[0].data_bytes) == message
                    assert [e.event for e in events[1:]] == ["typing", "message"]
                    await server.aend_streams()
                    await one.read_to_end()
                    await two.read_to_end()
                    await server.await_for_stream_count(0)
            async with api.stream(DEMO, token) as three:
                with anyio.fail_after(5):
                    await server.await_for_streams(1)
                    await server.adrop_streams()
                    with pytest.raises(BROKEN):
                        await three.read_to_end()


@pytest.mark.anyio
async def test_cancelled_await_leaves_nothing_behind(anyio_backend: str) -> None:
    with ConciergeThread() as server:
        with anyio.move_on_after(0.05):
            await server.await_for_streams(1)
        server.add_conversation(DEMO)  # the server still answers
