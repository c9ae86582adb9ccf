"""Routing, authentication, errors and HTTP/1.1 behaviour of the concierge."""

from __future__ import annotations

import logging

import anyio
import h11
import httpcore
import msgspec
import pytest
from concierge_client import Api, Reply, path_for
from conftest import DEMO

from expys_stream.testing import ConciergeServer, RecordedRequest, serve_concierge

pytestmark = pytest.mark.anyio


def assert_error(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]


# -- authentication -----------------------------------------------------------


@pytest.mark.parametrize("resource", ["messages", "stream"])
async def test_missing_token_is_401(api: Api, resource: str) -> None:
    reply = await api.request("GET", api.url(DEMO, resource))
    assert_error(reply, 401, "unauthorized")
    assert reply.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer two tokens",
        "Bearer tok@n",
        "tok_only",
    ],
)
async def test_malformed_authorization_is_401(api: Api, authorization: str) -> None:
    reply = await api.request(
        "GET", api.url(DEMO, "messages"), headers={"Authorization": authorization}
    )
    assert_error(reply, 401, "unauthorized")


async def test_bearer_scheme_is_case_insensitive(api: Api, alice: str) -> None:
    reply = await api.request(
        "GET", api.url(DEMO, "messages"), headers={"Authorization": f"bearer {alice}"}
    )
    assert reply.status == 200


async def test_unknown_token_is_401_and_never_echoed(api: Api) -> None:
    secret = "tok_not-a-real-token"
    reply = await api.list(DEMO, secret)
    assert_error(reply, 401, "unauthorized")
    assert secret.encode() not in reply.body
    assert 'error="invalid_token"' in reply.headers["www-authenticate"]


async def test_expired_token_is_401(server: ConciergeServer, api: Api, alice: str) -> None:
    assert (await api.list(DEMO, alice)).status == 200
    server.expire_token(alice)
    reply = await api.list(DEMO, alice)
    assert_error(reply, 401, "unauthorized")
    assert alice.encode() not in reply.body
    # other tokens of the same user still work
    assert (await api.list(DEMO, server.issue_token("usr_alice"))).status == 200


async def test_token_ttl(server: ConciergeServer, api: Api, alice: str) -> None:
    short = server.issue_token("usr_alice", ttl=0.05)
    assert (await api.list(DEMO, short)).status == 200
    await anyio.sleep(0.1)  # the passage of time is what is under test
    assert_error(await api.list(DEMO, short), 401, "unauthorized")


async def test_non_member_is_403(server: ConciergeServer, api: Api) -> None:
    server.add_conversation("cnv_other")
    mallory = server.add_member("cnv_other", "usr_mallory")
    for resource in ("messages", "stream"):
        reply = await api.request("GET", api.url(DEMO, resource), token=mallory)
        assert_error(reply, 403, "forbidden")
    assert_error(await api.send(DEMO, mallory), 403, "forbidden")


async def test_removed_member_is_403(server: ConciergeServer, api: Api, alice: str) -> None:
    server.remove_member(DEMO, "usr_alice")
    assert_error(await api.list(DEMO, alice), 403, "forbidden")


async def test_unknown_conversation_is_404(api: Api, alice: str) -> None:
    for resource in ("messages", "stream"):
        reply = await api.request("GET", api.url("cnv_nope", resource), token=alice)
        assert_error(reply, 404, "not_found")


async def test_check_order_401_then_404_then_403(server: ConciergeServer, api: Api) -> None:
    server.add_conversation("cnv_other")
    bob = server.add_member("cnv_other", "usr_bob")
    assert_error(await api.list("cnv_nope", "tok_bad"), 401, "unauthorized")
    assert_error(await api.list("cnv_nope", bob), 404, "not_found")
    assert_error(await api.list(DEMO, bob), 403, "forbidden")


# -- routing --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/v1/conversations",
        "/v1/conversations/",
        "/v1/conversations/cnv_demo",
        "/v1/conversations/cnv_demo/",
        "/v1/conversations/cnv_demo/messages/",
        "/v1/conversations/cnv_demo/typing",
        "/v1/conversations//messages",
        "/v1/conversations/cnv/demo/messages",
        "/v1/conversations/../admin/messages",
        "/v2/conversations/cnv_demo/messages",
        "/v1/conversations/%FF/messages",
    ],
)
async def test_unknown_path_is_404(api: Api, alice: str, path: str) -> None:
    reply = await api.request("GET", api.base_url + path, token=alice)
    assert_error(reply, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "resource", "allow"),
    [
        ("PUT", "messages", "GET, HEAD, POST"),
        ("DELETE", "messages", "GET, HEAD, POST"),
        ("PATCH", "messages", "GET, HEAD, POST"),
        ("POST", "stream", "GET, HEAD"),
        ("OPTIONS", "stream", "GET, HEAD"),
    ],
)
async def test_other_methods_are_405_with_allow(
    api: Api, alice: str, method: str, resource: str, allow: str
) -> None:
    reply = await api.request(method, api.url(DEMO, resource), token=alice, body=b"")
    assert_error(reply, 405, "method_not_allowed")
    assert reply.headers["allow"] == allow


async def test_head(server: ConciergeServer, api: Api, alice: str) -> None:
    await server.publish(DEMO, "usr_bob", "hello")
    get = await api.list(DEMO, alice)
    head = await api.request("HEAD", api.url(DEMO, "messages"), token=alice)
    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == str(len(get.body))
    stream_head = await api.request("HEAD", api.url(DEMO, "stream"), token=alice)
    assert stream_head.status == 200
    assert stream_head.headers["content-type"].startswith("text/event-stream")
    assert server.open_streams == 0


@pytest.mark.parametrize(
    "conversation_id",
    # (".." is no id: a dot segment, see test_hardening_ids.py)
    ["a/b", "...", "../admin", "with space", "ünïcødé ✓ 会话", "%41", "?x=1#y", "a;b,c"],
)
async def test_ids_are_one_percent_encoded_segment(
    server: ConciergeServer, api: Api, conversation_id: str
) -> None:
    server.add_conversation(conversation_id)
    token = server.add_member(conversation_id, "usr_alice")
    sent = await api.send(conversation_id, token, "hi")
    assert sent.status == 201
    assert sent.json()["conversationID"] == conversation_id
    page = (await api.list(conversation_id, token)).json()
    assert [m["body"] for m in page["messages"]] == ["hi"]
    assert (await api.list(DEMO, token)).status == 403  # a different conversation
    async with api.stream(conversation_id, token, last_event_id="msg_000000000000") as stream:
        assert stream.status == 200
        await server.publish(conversation_id, "usr_bob", "live")
        event = await stream.next_event()
        assert msgspec.json.decode(event.data)["conversationID"] == conversation_id
    assert server.requests[0].path == path_for(conversation_id, "messages")


# -- HTTP/1.1 --------------------------------------------------------------------


async def test_malformed_http_is_400_and_closes(server: ConciergeServer) -> None:
    async with await anyio.connect_tcp("127.0.0.1", server.port) as sock:
        await sock.send(b"THIS IS NOT HTTP\r\n\r\n")
        received = b""
        with anyio.fail_after(5):
            try:
                while chunk := await sock.receive():
                    received += chunk
            except anyio.EndOfStream:
                pass
    assert received.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in received.lower()
    assert received.endswith(b'"code":"invalid_request","message":"malformed HTTP request"}}')


async def test_oversized_request_head_is_431(server: ConciergeServer) -> None:
    # a head that never ends, past the 16 KiB that h11 buffers
    head = b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * (20 * 1024)
    async with await anyio.connect_tcp("127.0.0.1", server.port) as sock:
        await sock.send(head)
        received = b""
        with anyio.fail_after(5):
            try:
                while chunk := await sock.receive():
                    received += chunk
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
    assert received.startswith(b"HTTP/1.1 431 ")


async def test_persistent_connections(server: ConciergeServer, alice: str) -> None:
    client = h11.Connection(h11.CLIENT)
    target = path_for(DEMO, "messages")
    headers = [("host", "x"), ("authorization", f"Bearer {alice}")]
    async with await anyio.connect_tcp("127.0.0.1", server.port) as sock:
        for _ in range(3):
            request = h11.Request(method="GET", target=target, headers=headers)
            await sock.send(client.send(request) + client.send(h11.EndOfMessage()))
            status = None
            while True:
                event = client.next_event()
                if event is h11.NEED_DATA:
                    with anyio.fail_after(5):
                        client.receive_data(await sock.receive())
                    continue
                if isinstance(event, h11.Response):
                    status = event.status_code
                if isinstance(event, h11.EndOfMessage):
                    break
            assert status == 200
            client.start_next_cycle()


async def test_request_body_too_large_is_413(api: Api, alice: str) -> None:
    reply = await api.send(DEMO, alice, raw=b"x" * (1024 * 1024 + 1))
    assert_error(reply, 413, "payload_too_large")


async def test_handler_error_is_500_json_and_logged(
    server: ConciergeServer, api: Api, alice: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.faults.internal_error(endpoint="list")
    with caplog.at_level(logging.ERROR, logger="expys_stream.testing"):
        reply = await api.list(DEMO, alice)
    assert_error(reply, 500, "internal_error")
    assert b"Traceback" not in reply.body
    assert b"RuntimeError" not in reply.body
    assert any(record.exc_info for record in caplog.records)
    assert (await api.list(DEMO, alice)).status == 200  # consumed, and the server lives on


async def test_requests_are_recorded(server: ConciergeServer, api: Api, alice: str) -> None:
    await api.list(DEMO, alice, "limit=5")
    await api.send(DEMO, alice, "hi", key="k-1")
    first, second = server.requests
    assert first == RecordedRequest(
        "GET", path_for(DEMO, "messages"), "limit=5", first.headers, b""
    )
    assert first.headers["authorization"] == f"Bearer {alice}"
    assert second.method == "POST"
    assert second.headers["idempotency-key"] == "k-1"
    assert second.body == b'{"body":"hi"}'


async def test_path_prefix() -> None:
    async with serve_concierge(path_prefix="/prefix") as prefixed:
        prefixed.add_conversation(DEMO)
        token = prefixed.add_member(DEMO, "usr_alice")
        assert prefixed.base_url.endswith("/prefix")
        async with httpcore.AsyncConnectionPool() as pool:
            api = Api(pool, prefixed.base_url)
            assert (await api.list(DEMO, token)).status == 200
            bare = prefixed.base_url.removesuffix("/prefix") + path_for(DEMO, "messages")
            assert_error(await api.request("GET", bare, token=token), 404, "not_found")


async def test_expect_100_continue(server: ConciergeServer, alice: str) -> None:
    client = h11.Connection(h11.CLIENT)
    body = b'{"body":"after 100"}'
    headers = [
        ("host", "x"),
        ("authorization", f"Bearer {alice}"),
        ("content-length", str(len(body))),
        ("expect", "100-continue"),
    ]
    request = h11.Request(method="POST", target=path_for(DEMO, "messages"), headers=headers)
    statuses = []
    async with await anyio.connect_tcp("127.0.0.1", server.port) as sock:
        await sock.send(client.send(request))  # the head only: wait for 100 first
        with anyio.fail_after(5):
            while not isinstance(event := client.next_event(), h11.EndOfMessage):
                if event is h11.NEED_DATA:
                    client.receive_data(await sock.receive())
                elif isinstance(event, h11.InformationalResponse | h11.Response):
                    statuses.append(event.status_code)
                    if event.status_code == 100:
                        await sock.send(client.send(h11.Data(data=body)))
                        await sock.send(client.send(h11.EndOfMessage()))
    assert statuses == [100, 201]
    assert [m.body for m in server.messages(DEMO)] == ["after 100"]
