"""The concierge over HTTP/2 against an outside client: httpx with ``http2=True``.

Over TLS (trustme certificates), where ALPN picks h2 (or HTTP/1.1 for a
client that offers only that), and in cleartext with prior knowledge
(``http1=False, http2=True``). Both backends.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import anyio
import httpx
import msgspec
import pytest
import trustme

from expys_stream.sse import SSEDecoder
from expys_stream.testing import ConciergeServer, ConciergeThread, serve_concierge

pytestmark = pytest.mark.anyio

DEMO = "cnv_demo"
MESSAGES = f"/v1/conversations/{DEMO}/messages"
STREAM = f"/v1/conversations/{DEMO}/stream"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
async def https(ca: trustme.CA) -> AsyncIterator[ConciergeServer]:
    async with serve_concierge(ssl_context=server_context(ca), keepalive_interval=60) as server:
        server.add_conversation(DEMO)
        yield server


@pytest.fixture
async def plain() -> AsyncIterator[ConciergeServer]:
    async with serve_concierge(keepalive_interval=60) as server:
        server.add_conversation(DEMO)
        yield server


async def read_messages(response: httpx.Response) -> list[str]:
    """Every message of a body read to its end (a ``drop_after_events`` fault ends it).

    Read to the end, not left early: httpx's nested generators would be
    left to the garbage collector, which trio reports.
    """
    decoder = SSEDecoder()
    bodies: list[str] = []
    async for chunk in response.aiter_bytes():
        for event in decoder.feed(chunk):
            if event.event == "message":
                bodies.append(msgspec.json.decode(event.data)["body"])
    return bodies


async def test_alpn_picks_h2(https: ConciergeServer, ca: trustme.CA) -> None:
    token = https.add_member(DEMO, "usr_alice")
    await https.publish(DEMO, "usr_alice", "over tls")
    auth = {"authorization": f"Bearer {token}"}
    with anyio.fail_after(10):
        async with httpx.AsyncClient(http2=True, verify=trusting(ca)) as client:
            response = await client.get(https.base_url + MESSAGES, headers=auth)
            [connection] = https.connections()
    assert response.http_version == "HTTP/2"
    assert [m["body"] for m in response.json()["messages"]] == ["over tls"]
    assert (connection.protocol, connection.tls) == ("h2", True)
    assert https.requests[-1].http_version == "HTTP/2"


async def test_alpn_falls_back_to_http11(https: ConciergeServer, ca: trustme.CA) -> None:
    token = https.add_member(DEMO, "usr_alice")
    with anyio.fail_after(10):
        async with httpx.AsyncClient(http2=False, verify=trusting(ca)) as client:
            response = await client.get(
                https.base_url + MESSAGES, headers={"authorization": f"Bearer {token}"}
            )
            [connection] = https.connections()
    assert response.http_version == "HTTP/1.1"
    assert response.status_code == 200
    assert (connection.protocol, connection.tls) == ("http/1.1", True)


async def test_a_server_without_http2_is_http11_even_for_h2_clients(ca: trustme.CA) -> None:
    async with serve_concierge(ssl_context=server_context(ca), http2=False) as server:
        with anyio.fail_after(10):
            async with httpx.AsyncClient(http2=True, verify=trusting(ca)) as client:
                response = await client.get(server.base_url + "/nowhere")
    assert (response.http_version, response.status_code) == ("HTTP/1.1", 404)


async def test_prior_knowledge_send_and_statuses(plain: ConciergeServer) -> None:
    token = plain.add_member(DEMO, "usr_alice")
    plain.add_conversation("cnv_other")
    outsider = plain.add_member("cnv_other", "usr_mallory")
    url = plain.base_url + MESSAGES
    with anyio.fail_after(10):
        async with httpx.AsyncClient(http1=False, http2=True) as client:
            sent = await client.post(
                url, json={"body": "hi"}, headers={"authorization": f"Bearer {token}"}
            )
            missing = await client.get(url)
            forbidden = await client.get(url, headers={"authorization": f"Bearer {outsider}"})
            unknown = await client.get(
                plain.base_url + "/v1/conversations/cnv_nope/messages",
                headers={"authorization": f"Bearer {token}"},
            )
            [connection] = plain.connections()
    assert (sent.http_version, sent.status_code) == ("HTTP/2", 201)
    assert sent.json()["body"] == "hi"
    assert [m.body for m in plain.messages(DEMO)] == ["hi"]
    assert missing.status_code == 401
    assert forbidden.status_code == 403
    assert unknown.status_code == 404
    assert (connection.protocol, connection.streams_total) == ("h2", 4)


async def test_stream_with_history_and_live_messages(
    https: ConciergeServer, ca: trustme.CA
) -> None:
    token = https.add_member(DEMO, "usr_alice")
    first = await https.publish(DEMO, "usr_alice", "one")
    await https.publish(DEMO, "usr_alice", "two")
    headers = {"authorization": f"Bearer {token}", "last-event-id": first.id}
    https.faults.drop_after_events(2)  # ends the body (END_STREAM) after two messages
    with anyio.fail_after(10):
        async with (
            httpx.AsyncClient(http2=True, verify=trusting(ca)) as client,
            client.stream("GET", https.base_url + STREAM, headers=headers) as response,
        ):
            await https.wait_for_streams(1)
            await https.publish(DEMO, "usr_alice", "three")
            bodies = await read_messages(response)
    assert response.http_version == "HTTP/2"
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert bodies == ["two", "three"]


async def test_many_streams_share_one_connection(plain: ConciergeServer) -> None:
    token = plain.add_member(DEMO, "usr_alice")
    headers = {"authorization": f"Bearer {token}"}
    results: list[list[str]] = []

    async def consume(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", plain.base_url + STREAM, headers=headers) as response:
            results.append(await read_messages(response))

    with anyio.fail_after(10):
        async with (
            httpx.AsyncClient(http1=False, http2=True) as client,
            anyio.create_task_group() as task_group,
        ):
            for _ in range(20):
                plain.faults.drop_after_events(1)  # ends each body after one message
                task_group.start_soon(consume, client)
            await plain.wait_for_streams(20)
            [connection] = plain.connections()
            assert connection.streams_open == 20
            await plain.publish(DEMO, "usr_alice", "fan out")
        await plain.wait_for_stream_count(0)
    assert results == [["fan out"]] * 20


async def test_closing_the_client_ends_its_streams(plain: ConciergeServer) -> None:
    # (httpcore sends no RST_STREAM for a response closed early: the raw
    # client's tests check the server's side of a reset.)
    token = plain.add_member(DEMO, "usr_alice")
    headers = {"authorization": f"Bearer {token}"}
    with anyio.fail_after(10):
        async with httpx.AsyncClient(http1=False, http2=True) as client, AsyncExitStack() as stack:
            for _ in range(3):
                await stack.enter_async_context(
                    client.stream("GET", plain.base_url + STREAM, headers=headers)
                )
            await plain.wait_for_streams(3)
            [connection] = plain.connections()
            assert (connection.protocol, connection.streams_open) == ("h2", 3)
        await plain.wait_for_stream_count(0)


def test_a_thread_concierge_serves_h2() -> None:
    with ConciergeThread() as server:
        server.add_conversation(DEMO)
        token = server.add_member(DEMO, "usr_alice")
        with httpx.Client(http1=False, http2=True, timeout=10) as client:
            response = client.get(
                server.base_url + MESSAGES, headers={"authorization": f"Bearer {token}"}
            )
            [connection] = server.connections()
    assert (response.http_version, response.status_code) == ("HTTP/2", 200)
    assert (connection.protocol, connection.streams_total) == ("h2", 1)
