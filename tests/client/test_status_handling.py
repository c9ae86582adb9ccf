"""Every row of docs/protocol.md's status table, on the wire."""

from __future__ import annotations

import json
import logging
import time
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
    AuthenticationError,
    Client,
    ConnectError,
    ConversationNotFoundError,
    ExpysError,
    HTTPStatusError,
    NotAnEventStream,
    PermissionDeniedError,
    RedirectError,
    RetryLimitExceeded,
    ServerError,
    StreamClosed,
    open_event_stream,
    open_message_stream,
)
from expys_stream._transport import status_error
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio


async def drain_from(origin: Scripted, prefix: str = "") -> list[Any]:
    """Stream conversation "c" from a Scripted server (under a base URL path
    ``prefix``) until the stream ends."""
    async with running(origin):
        # (The server's port is known once it runs.)
        base_url = origin.url + prefix
        async with open_message_stream("c", token="t", base_url=base_url, backoff_base=0.01) as s:
            return await drain(s)


def stream_requests(server: ConciergeServer) -> list[Any]:
    return [r for r in server.requests if r.path.endswith("/stream")]


async def drain(stream: Any) -> list[Any]:
    with anyio.fail_after(10):
        return [message async for message in stream]


async def test_204_ends_the_stream_without_reconnecting(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    server.faults.no_content()
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        assert await drain(stream) == []
    assert len(stream_requests(server)) == 1


async def test_401_with_a_plain_token_fails_at_once(
    server: ConciergeServer, fast: dict[str, Any]
) -> None:
    async with open_message_stream(CONVERSATION, token="not-a-token", **fast) as stream:
        with pytest.raises(AuthenticationError) as info:
            await drain(stream)
    assert info.value.status == 401
    assert info.value.code == "unauthorized"
    assert len(stream_requests(server)) == 1
    assert "not-a-token" not in str(info.value)
    assert "not-a-token" not in repr(info.value)


async def test_401_asks_the_provider_once_more_then_fails(
    server: ConciergeServer, fast: dict[str, Any]
) -> None:
    calls = 0

    def provider() -> str:
        nonlocal calls
        calls += 1
        return f"expired-{calls}"

    async with open_message_stream(CONVERSATION, token=provider, **fast) as stream:
        with pytest.raises(AuthenticationError):
            await drain(stream)
    assert calls == 2
    assert len(stream_requests(server)) == 2


async def test_401_then_a_fresh_token_from_an_async_provider_works(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    tokens = ["expired", token, token]

    async def provider() -> str:
        await anyio.lowlevel.checkpoint()
        return tokens.pop(0)

    async with open_message_stream(CONVERSATION, token=provider, **fast) as stream:
        await subscribed(server)
        sent = await server.publish(CONVERSATION, "usr_bob", "after refresh")
        assert await collect(stream, 1) == [sent]
    headers = [r.headers["authorization"] for r in stream_requests(server)]
    assert headers == ["Bearer expired", f"Bearer {token}"]


async def test_403_is_permission_denied_without_retry(
    server: ConciergeServer, fast: dict[str, Any]
) -> None:
    outsider = server.issue_token(server.add_user("usr_mallory"))
    async with open_message_stream(CONVERSATION, token=outsider, **fast) as stream:
        with pytest.raises(PermissionDeniedError) as info:
            await drain(stream)
    assert info.value.status == 403
    assert len(stream_requests(server)) == 1


async def test_404_is_conversation_not_found(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    async with open_message_stream("cnv_missing", token=token, **fast) as stream:
        with pytest.raises(ConversationNotFoundError) as info:
            await drain(stream)
    assert info.value.status == 404
    assert info.value.code == "not_found"


async def test_other_4xx_fail_without_retry(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    server.faults.fail_next(1, 418)
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        with pytest.raises(HTTPStatusError) as info:
            await drain(stream)
    assert info.value.status == 418
    assert len(stream_requests(server)) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_retryable_statuses_are_retried(
    server: ConciergeServer, token: str, fast: dict[str, Any], status: int
) -> None:
    server.faults.fail_next(2, status)
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        await subscribed(server)
        sent = await server.publish(CONVERSATION, "usr_bob", "finally")
        assert await collect(stream, 1) == [sent]
    assert len(stream_requests(server)) == 3
    assert stream.reconnects == 2


async def test_retry_after_is_a_floor_for_the_delay(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    server.faults.fail_next(1, 503, retry_after=1)
    started = time.monotonic()
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        await subscribed(server)
        waited = time.monotonic() - started
        sent = await server.publish(CONVERSATION, "usr_bob", "x")
        assert await collect(stream, 1) == [sent]
    # A lower bound only: the backoff alone (cap 0.05 s) would be far shorter.
    assert waited >= 1.0


async def test_max_retries_gives_up_with_the_last_cause(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    server.faults.fail_next(10, 503)
    async with open_message_stream(CONVERSATION, token=token, max_retries=2, **fast) as stream:
        with pytest.raises(RetryLimitExceeded) as info:
            await drain(stream)
    assert info.value.attempts == 3
    assert isinstance(info.value.last_error, ServerError)
    assert info.value.__cause__ is info.value.last_error
    assert len(stream_requests(server)) == 3


async def test_connection_refused_is_retried_then_reported(token: str) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens there now
    async with open_message_stream(
        CONVERSATION,
        token=token,
        base_url=f"http://127.0.0.1:{port}",
        backoff_base=0.01,
        backoff_cap=0.02,
        max_retries=3,
    ) as stream:
        with pytest.raises(RetryLimitExceeded) as info:
            await drain(stream)
    assert isinstance(info.value.last_error, ConnectError)
    # The OS's reason, once, whatever words the backend's own error used.
    message = str(info.value.last_error)
    assert message.lower().count("connection refused") == 1, message
    assert stream.reconnects == 3


async def test_wrong_content_type_is_not_an_event_stream(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    server.faults.wrong_content_type("application/json")
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        with pytest.raises(NotAnEventStream) as info:
            await drain(stream)
    assert info.value.content_type == "application/json"
    assert len(stream_requests(server)) == 1


async def test_same_origin_redirect_keeps_the_token(
    server: ConciergeServer, token: str, fast: dict[str, Any]
) -> None:
    server.faults.redirect(f"{server.base_url}/v1/conversations/{CONVERSATION}/stream", status=307)
    async with open_message_stream(CONVERSATION, token=token, **fast) as stream:
        await subscribed(server)
        sent = await server.publish(CONVERSATION, "usr_bob", "redirected")
        assert await collect(stream, 1) == [sent]
    requests = stream_requests(server)
    assert len(requests) == 2
    assert requests[1].headers["authorization"] == f"Bearer {token}"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_cross_origin_redirect_drops_the_token(status: int) -> None:
    body = (
        b"id: msg_1\nevent: message\ndata: "
        + (b'{"id":"msg_1","conversationID":"c","authorID":"a","createdAt":"2026-11-27T10:15:02Z"}')
        + b"\n\n"
    )
    target = Scripted([http_response(200, body), http_response(204)])
    async with running(target):
        # Every connection to the origin (the first, and the reconnect after
        # the target's body ends) is sent on to the target, which ends the
        # stream with 204 the second time.
        hop = http_response(status, headers={"Location": target.url + "/elsewhere"})
        origin = Scripted([hop, hop])
        async with (
            running(origin),
            open_message_stream(
                "c", token="secret-token", base_url=origin.url, backoff_base=0.01, backoff_cap=0.02
            ) as stream,
        ):
            got = await drain(stream)
    assert [m.id for m in got] == ["msg_1"]
    assert origin.header(0, b"authorization") == b"Bearer secret-token"
    assert target.header(0, b"authorization") is None
    assert target.heads[0].startswith(b"GET /elsewhere ")
    assert target.header(1, b"last-event-id") == b"msg_1"


async def test_redirect_without_location_fails() -> None:
    with pytest.raises(RedirectError, match="without a Location"):
        await drain_from(Scripted([http_response(302)]))


async def test_a_redirect_to_a_location_outside_ascii_is_percent_encoded() -> None:
    # Servers send UTF-8 in Location now and then: it goes on the wire
    # percent-encoded, as browsers send it.
    location = "/straße/ü?q=ä".encode().decode("latin-1")  # its UTF-8 bytes
    origin = Scripted([http_response(307, headers={"Location": location}), http_response(204)])
    assert await drain_from(origin) == []
    assert len(origin.heads) == 2
    assert origin.heads[1].startswith(b"GET /stra%C3%9Fe/%C3%BC?q=%C3%A4 HTTP/1.1\r\n")


@pytest.mark.parametrize(
    "location",
    [
        "http://a..b/x",
        "http://[::1/x",
        "http://h:99999/",
        "ftp://h/x",
        "\xff\xfe",
        "http://a\uff3bb/".encode().decode("latin-1"),  # UTF-8 of a full-width "["
        "http://[v1.fe]/",
    ],
)
async def test_a_redirect_to_an_unusable_location_fails(location: str) -> None:
    origin = Scripted([http_response(302, headers={"Location": location})])
    with pytest.raises(RedirectError, match="to an invalid Location"):
        await drain_from(origin)
    assert len(origin.heads) == 1


async def test_a_base_url_outside_ascii_goes_on_the_wire_encoded() -> None:
    origin = Scripted([http_response(204)])
    assert await drain_from(origin, prefix="/präfix") == []
    assert origin.heads[0].startswith(b"GET /pr%C3%A4fix/v1/conversations/c/stream HTTP/1.1\r\n")


async def test_more_than_five_redirects_fail() -> None:
    loop = Scripted([])
    loop.responses = [
        (lambda head: http_response(307, headers={"Location": "/again"})) for _ in range(10)
    ]
    with pytest.raises(RedirectError, match="more than 5 redirects"):
        await drain_from(loop)
    assert len(loop.heads) == 6


def echoing_error(status: int) -> bytes:
    """An error body that echoes the token and tries to forge a log line."""
    document = {
        "error": {
            "code": "bad\x1b[2J",
            "message": "token tok-SECRET-123 refused\nCRITICAL root: all is well\u202e",
        }
    }
    return http_response(status, json.dumps(document).encode(), content_type="application/json")


@pytest.mark.parametrize("status", [403, 500])
async def test_a_servers_error_text_is_shown_escaped_and_without_the_token(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="expys_stream")
    origin = Scripted([echoing_error(status) for _ in range(4)])
    async with running(origin):
        client = Client(
            token="tok-SECRET-123", base_url=origin.url, request_retries=0, max_retries=0
        )
        async with client:
            with pytest.raises(ExpysError) as listed:
                await client.list_messages("c")
            async with client.open_message_stream("c") as stream:
                with anyio.fail_after(10), pytest.raises(ExpysError) as streamed:
                    await drain(stream)
    for error in (listed.value, streamed.value):
        text = str(error)
        assert "SECRET" not in text
        assert "\n" not in text
        assert "\x1b" not in text
        assert "token [token] refused\\nCRITICAL root: all is well\\u202e" in text
    if status == 403:
        assert isinstance(listed.value, PermissionDeniedError)
        assert listed.value.code == "bad\\x1b[2J"
    for record in caplog.records:
        assert "SECRET" not in record.getMessage()
        assert "\n" not in record.getMessage()


def test_a_token_cut_by_the_length_limit_leaves_no_part_of_it() -> None:
    token = "tok_SECRET_0123456789abcdef"
    body = json.dumps({"error": {"code": "x", "message": "x" * 480 + token}}).encode()
    error = status_error(401, body, "http://h/x", secret=token)
    assert "SECRET" not in str(error)
    assert error.server_message == "x" * 480 + "[token]"


async def test_an_authorization_header_in_any_case_is_blanked_out_too() -> None:
    origin = Scripted([echoing_error(403)])
    async with running(origin):
        url = origin.url + "/stream"
        headers = {"authorization": "Bearer tok-SECRET-123"}
        async with open_event_stream(url, headers=headers, max_retries=0) as stream:
            with anyio.fail_after(10), pytest.raises(PermissionDeniedError) as info:
                await stream.__anext__()
    assert "SECRET" not in str(info.value)
    assert origin.header(0, b"authorization") == b"Bearer tok-SECRET-123"


async def test_a_request_waiting_to_retry_ends_when_the_client_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="expys_stream")
    busy = http_response(503, headers={"Retry-After": "30"}, content_type=None)
    origin = Scripted([busy, busy])
    outcome: list[BaseException] = []
    async with running(origin):
        client = Client(token="t", base_url=origin.url)

        async def list_once() -> None:
            try:
                await client.list_messages("c")
            except StreamClosed as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(list_once)
            assert " in 30.00 s after: HTTP 503" in await logged(caplog, "retrying GET")
            started = anyio.current_time()
            await client.aclose()
        waited = anyio.current_time() - started
    assert [str(e) for e in outcome] == ["the client was closed"]
    assert waited < 5
    assert len(origin.heads) == 1


async def test_a_client_closed_before_its_stream_starts_fetches_no_token() -> None:
    calls: list[int] = []

    def provider() -> str:
        calls.append(1)
        return "t"

    client = Client(token=provider, base_url="http://127.0.0.1:9")
    async with client.open_message_stream("c") as stream:
        await client.aclose()
        with anyio.fail_after(5), pytest.raises(StreamClosed, match="the client was closed"):
            await stream.__anext__()
    assert calls == []
