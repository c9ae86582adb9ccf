"""The response head has a deadline of its own (head_timeout), both backends.

The read timeout restarts with every byte, so a server that trickles its
response head a byte at a time would keep an attempt alive forever without
it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest
from client_support import CONVERSATION, collect, subscribed

from expys_stream import Client, ReadTimeout, RetryLimitExceeded, open_event_stream
from expys_stream.testing import ConciergeServer

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" + b"X-Pad: " + b"p" * 200


@asynccontextmanager
async def trickling_head(interval: float) -> AsyncIterator[tuple[int, list[int]]]:
    """A server that sends a long response head one byte every ``interval``
    seconds; yields its port and the count of requests it received."""
    requests: list[int] = []

    async def handle(client: anyio.abc.SocketStream) -> None:
        async with client:
            head = b""
            while b"\r\n\r\n" not in head:
                head += await client.receive()
            requests.append(1)
            try:
                for byte in HEAD:
                    await client.send(bytes([byte]))
                    await anyio.sleep(interval)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        yield port, requests
        group.cancel_scope.cancel()


async def failure(url: str, **kwargs: Any) -> RetryLimitExceeded:
    async with open_event_stream(url, backoff_base=0.01, max_retries=1, **kwargs) as stream:
        with anyio.fail_after(20), pytest.raises(RetryLimitExceeded) as info:
            [event async for event in stream]
    return info.value


@pytest.mark.anyio
async def test_a_trickled_head_ends_the_attempt_at_the_default_deadline() -> None:
    # Each byte comes well within the read timeout; the head would take 50 s.
    async with trickling_head(0.2) as (port, requests):
        error = await failure(f"http://127.0.0.1:{port}/s", connect_timeout=0.5, read_timeout=1)
    assert isinstance(error.last_error, ReadTimeout)  # retried like one
    assert error.attempts == 2
    assert len(requests) == 2
    # The default is connect_timeout + read_timeout.
    assert "no complete response head from http://127.0.0.1:" in str(error.last_error)
    assert "within 1.5 s (head_timeout)" in str(error.last_error)


@pytest.mark.anyio
async def test_an_explicit_head_timeout_is_used() -> None:
    async with trickling_head(0.1) as (port, _requests):
        error = await failure(f"http://127.0.0.1:{port}/s", read_timeout=30, head_timeout=0.5)
    assert "within 0.5 s (head_timeout)" in str(error.last_error)


@pytest.mark.anyio
async def test_the_deadline_does_not_cover_the_body(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    async with Client(token=token, head_timeout=0.3, **fast) as client:
        async with client.open_message_stream(CONVERSATION) as stream:
            await subscribed(server)
            await anyio.sleep(0.6)  # the time under test: twice the head deadline
            sent = await server.publish(CONVERSATION, "usr_bob", "still here")
            assert await collect(stream, 1) == [sent]
        assert stream.reconnects == 0


@pytest.mark.parametrize("value", [0, -1, "1", float("nan"), True])
def test_a_bad_head_timeout_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="head_timeout must be a positive number or None"):
        open_event_stream("http://127.0.0.1:9/s", head_timeout=value)
