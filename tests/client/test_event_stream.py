"""The generic SSE client, logging, and the consumer-side memory bound."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest
from client_support import (
    CONVERSATION,
    Scripted,
    collect,
    http_response,
    logged,
    running,
    subscribed,
)

from expys_stream import (
    EventTooLarge,
    ExpysError,
    ProtocolError,
    ServerSentEvent,
    open_event_stream,
    open_message_stream,
)
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio


async def test_open_event_stream_yields_every_event_type(
    server: ConciergeServer, token: str
) -> None:
    url = f"{server.base_url}/v1/conversations/{CONVERSATION}/stream"
    async with open_event_stream(url, token=token, backoff_base=0.01) as stream:
        await subscribed(server)
        await server.publish_event(CONVERSATION, "typing", '{"authorID":"usr_bob"}')
        sent = await server.publish(CONVERSATION, "usr_bob", "hi")
        with anyio.fail_after(10):
            typing = await stream.__anext__()
            message = await stream.__anext__()
    assert isinstance(typing, ServerSentEvent)
    assert (typing.event, typing.data) == ("typing", '{"authorID":"usr_bob"}')
    assert message.event == "message"
    assert message.id == sent.id
    assert stream.last_event_id == sent.id


async def test_extra_headers_are_sent(server: ConciergeServer, token: str) -> None:
    url = f"{server.base_url}/v1/conversations/{CONVERSATION}/stream"
    headers = {"Authorization": f"Bearer {token}", "X-Trace": "abc"}
    async with open_event_stream(url, headers=headers):
        await subscribed(server)
    request = next(r for r in server.requests if r.path.endswith("/stream"))
    assert request.headers["x-trace"] == "abc"
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["cache-control"] == "no-cache"
    assert "last-event-id" not in request.headers


async def test_an_oversized_event_raises_after_the_events_before_it(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    server.faults.oversized_event(5000)
    async with open_message_stream(
        CONVERSATION, token=token, max_event_size=1024, **fast
    ) as stream:
        with anyio.fail_after(10), pytest.raises(EventTooLarge) as info:
            async for _message in stream:
                pass
    assert info.value.limit == 1024


async def test_logs_say_what_happened_and_never_the_token(
    server: ConciergeServer, token: str, fast: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="expys_stream")
    sent = [await server.publish(CONVERSATION, "usr_bob", f"m{i}") for i in range(3)]
    server.faults.drop_after_events(1)
    async with open_message_stream(
        CONVERSATION, token=token, last_event_id=sent[0].id, **fast
    ) as stream:
        assert await collect(stream, 2) == sent[1:]
    lines = [r.getMessage() for r in caplog.records if r.name == "expys_stream"]
    assert any(line.startswith("connected to") for line in lines)
    assert any(line.startswith("reconnecting to") and repr(sent[1].id) in line for line in lines)
    assert all(token not in line for line in lines)


async def test_a_consumer_that_stops_reading_stops_the_socket_reads(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    # The channel holds at most ``buffer_batches`` socket reads; the reader
    # then waits instead of reading, so memory stays bounded.
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        await subscribed(server)
        for i in range(3000):
            await server.publish(CONVERSATION, "usr_bob", f"flood {i}")
        assert await collect(stream, 1)
        assert stream._channel is not None
        with anyio.fail_after(10):
            while stream._channel.statistics().tasks_waiting_send < 1:
                await anyio.sleep(0.01)
        stats = stream._channel.statistics() if stream._channel else None
        assert stats is not None
        assert stats.current_buffer_used == stats.max_buffer_size == 2
        assert stats.tasks_waiting_send == 1  # the reader, blocked: not reading
        rest = await collect(stream, 2999, timeout=30)
    assert len(rest) == 2999


# -- what HTTP/1.1 cannot carry is refused before any I/O ------------------------

BAD_TOKENS = [
    " padded-secret",
    "trailing-secret\t",
    "vt\x0bsecret",
    "ff\x0csecret",
    "cr\rsecret",
    "lone-surrogate\ud800secret",
]


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_a_token_no_header_can_carry_is_refused_at_once(token: str) -> None:
    url = "http://127.0.0.1:9/stream"
    with pytest.raises(ValueError, match="a token must be text") as info:
        open_event_stream(url, token=token)
    assert "secret" not in str(info.value)
    with pytest.raises(ValueError, match="a token must be text") as info:
        open_message_stream(CONVERSATION, token=token, base_url="http://127.0.0.1:9")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("token", BAD_TOKENS)
async def test_a_provider_token_no_header_can_carry_fails_without_showing_it(
    server: ConciergeServer, token: str
) -> None:
    url = f"{server.base_url}/v1/conversations/{CONVERSATION}/stream"
    async with open_event_stream(url, token=lambda: token, backoff_base=0.01) as stream:
        with anyio.fail_after(10), pytest.raises(ValueError, match="a token must be text") as info:
            await stream.__anext__()
    assert "secret" not in str(info.value)
    assert not [r for r in server.requests if r.path.endswith("/stream")]


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"X-Key": " secret"}, "the value of X-Key starts or ends with whitespace"),
        ({"X-Key": "secret\x0c"}, "the value of X-Key"),
        ({"X-Key": "a\nb-secret"}, "the value of X-Key"),
        ({"X Key": "secret"}, "'X Key' is not a header name"),
        ({"": "secret"}, "'' is not a header name"),
        ({"X-Key": 7}, "the value of X-Key is not a str"),
        ({"X-Key": "\udc80secret"}, "the value of X-Key is not valid Unicode"),
        ({"Host": "elsewhere-secret"}, "Host is written by the client itself"),
        ({"content-length": "5"}, "content-length is written by the client itself"),
        ({"Transfer-Encoding": "chunked"}, "Transfer-Encoding is written by the client"),
        ({"Connection": "close"}, "Connection is written by the client itself"),
    ],
)
def test_extra_headers_no_request_can_carry_are_refused_at_once(
    headers: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=words) as info:
        open_event_stream("http://127.0.0.1:9/stream", headers=headers)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://a..b/stream?key=secret",
        "http://user:secret@exa mple.com/stream",
        "http://h:99999/stream#secret",
        "http://[::1/stream?key=secret",
    ],
)
def test_a_url_that_cannot_be_requested_is_refused_without_its_secrets(url: str) -> None:
    with pytest.raises(ValueError, match="not an absolute http") as info:
        open_event_stream(url)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("headers", [[("X-Key", "v")], "X-Key: v"])
def test_headers_must_be_a_mapping(headers: Any) -> None:
    with pytest.raises(TypeError, match="headers must be a mapping"):
        open_event_stream("http://127.0.0.1:9/stream", headers=headers)


async def test_a_servers_retry_is_capped_at_a_day(caplog: pytest.LogCaptureFixture) -> None:
    # (Even with no max_server_delay: see test_hardening_delay.py for it.)
    caplog.set_level(logging.INFO, logger="expys_stream")
    origin = Scripted([http_response(200, b"retry: 99999999999999999999\n\n")])
    async with running(origin):
        url = origin.url + "/stream"
        async with open_event_stream(url, backoff_base=0.01, max_server_delay=float("inf")):
            # Logged as the wait begins; leaving the block cancels the wait.
            reconnecting = await logged(caplog, "reconnecting")
    assert float(reconnecting.split(" in ")[1].split(" s ")[0]) == 86400.0


async def read_from(origin: Scripted) -> tuple[list[ServerSentEvent], ExpysError | None]:
    """The events of a Scripted server's stream until it ends, and the error
    that ended it, if any."""
    got: list[ServerSentEvent] = []
    async with running(origin):
        url = origin.url + "/stream"
        async with open_event_stream(url, backoff_base=0.01, backoff_cap=0.02) as stream:
            with anyio.fail_after(10):
                try:
                    async for event in stream:
                        got.append(event)
                except ExpysError as exc:
                    return got, exc
    return got, None


async def test_the_resume_id_loses_the_blanks_around_it_as_fetch_does() -> None:
    # "id:  padded \t" sets the ID " padded \t"; no header value may start
    # or end with blanks, so it goes back as "padded" (Fetch strips them).
    body = b"retry: 10\n\nid:  padded \t\ndata: x\n\n"
    origin = Scripted([http_response(200, body), http_response(204)])
    got, error = await read_from(origin)
    assert error is None
    assert [(e.id, e.data) for e in got] == [(" padded \t", "x")]
    assert origin.header(1, b"last-event-id") == b"padded"


async def test_a_resume_id_no_header_can_carry_is_a_protocol_error() -> None:
    origin = Scripted([http_response(200, b"id: a\x0bb\ndata: x\n\n"), http_response(204)])
    got, error = await read_from(origin)
    assert [e.id for e in got] == ["a\x0bb"]
    assert isinstance(error, ProtocolError)
    assert "cannot be sent back in Last-Event-ID" in str(error)
    assert len(origin.heads) == 1  # no request went out without its resume point
