"""Requests and streams through a real HTTP proxy on 127.0.0.1: forward and CONNECT."""

from __future__ import annotations

import ssl
from typing import Any

import anyio
import pytest
from proxy_servers import CONVERSATION, ForwardProxy

from expys_stream import Client, open_event_stream, open_message_stream
from expys_stream._http._proxy import ProxySettings, parse_proxy_url, settings_from_environment
from expys_stream._transport import StreamBody, Transport
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio


async def first(stream: Any, count: int) -> list[Any]:
    """The stream's next ``count`` items (fails after 10 s)."""
    got: list[Any] = []
    with anyio.fail_after(10):
        async for item in stream:
            got.append(item)
            if len(got) == count:
                break
    return got


def options(
    server: ConciergeServer, tls: ssl.SSLContext | None, fast: dict[str, Any]
) -> dict[str, Any]:
    return {"base_url": server.base_url, "ssl_context": tls, **fast}


async def test_list_send_and_stream_through_a_forward_proxy(
    server: ConciergeServer, fast: dict[str, Any]
) -> None:
    token = server.add_member(CONVERSATION, "usr_alice")
    async with (
        ForwardProxy() as proxy,
        Client(token=token, proxy=proxy.url, **options(server, None, fast)) as client,
    ):
        sent = await client.send_message(CONVERSATION, "through the proxy")
        page = await client.list_messages(CONVERSATION)
        async with client.open_message_stream(CONVERSATION) as stream:
            await server.wait_for_streams(1, CONVERSATION)
            later = await server.publish(CONVERSATION, "usr_bob", "live")
            got = await first(stream, 1)
    assert [m.body for m in page.messages] == ["through the proxy"]
    assert page.messages == [sent]
    assert got == [later]
    # Every request went through the proxy, in absolute form, and reached the service.
    assert [seen.method for seen in proxy.seen] == ["POST", "GET", "GET"]
    assert [seen.target for seen in proxy.seen] == [
        server.base_url + request.path + ("?" + request.query if request.query else "")
        for request in server.requests
    ]
    assert proxy.seen[2].target.startswith(
        f"{server.base_url}/v1/conversations/{CONVERSATION}/stream"
    )


async def test_list_send_and_stream_through_a_connect_tunnel(
    tls_server: ConciergeServer, client_tls: ssl.SSLContext, fast: dict[str, Any]
) -> None:
    server = tls_server
    assert server.base_url.startswith("https://")
    token = server.add_member(CONVERSATION, "usr_alice")
    async with (
        ForwardProxy() as proxy,
        Client(token=token, proxy=proxy.url, **options(server, client_tls, fast)) as client,
    ):
        sent = await client.send_message(CONVERSATION, "tunnelled")
        page = await client.list_messages(CONVERSATION)
        async with client.open_message_stream(CONVERSATION) as stream:
            await server.wait_for_streams(1, CONVERSATION)
            later = await server.publish(CONVERSATION, "usr_bob", "live")
            got = await first(stream, 1)
    assert page.messages == [sent]
    assert got == [later]
    assert [r.method for r in server.requests] == ["POST", "GET", "GET"]
    # The proxy saw tunnels to the service, nothing of what went through them.
    assert {(seen.method, seen.target) for seen in proxy.seen} == {
        ("CONNECT", f"127.0.0.1:{server.port}")
    }
    assert proxy.tunnels == len(proxy.seen) >= 1


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_the_bulk_body_path_is_taken_through_the_proxy(
    server: ConciergeServer,
    tls_server: ConciergeServer,
    client_tls: ssl.SSLContext,
    scheme: str,
) -> None:
    service = server if scheme == "http" else tls_server
    token = service.add_member(CONVERSATION, "usr_alice")
    async with ForwardProxy() as proxy:
        via = parse_proxy_url(proxy.url)
        transport = Transport(
            user_agent="tests", ssl_context=client_tls, proxy=ProxySettings(http=via, https=via)
        )
        url = f"{service.base_url}/v1/conversations/{CONVERSATION}/stream"
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        try:
            with anyio.fail_after(10):
                response = await transport.open("GET", url, headers, read_timeout=10)
                assert response.status == 200
                with anyio.CancelScope() as scope:
                    body = StreamBody(response, 10.0, scope)
                    assert body.bulk
                    payload = await body.read()
                await response.aclose()
        finally:
            await transport.aclose()
    assert payload.startswith(b"retry:")  # the concierge's first line, unframed
    assert [seen.method for seen in proxy.seen] == ["GET" if scheme == "http" else "CONNECT"]


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_reconnect_through_the_proxy_resumes_with_last_event_id(
    server: ConciergeServer,
    tls_server: ConciergeServer,
    client_tls: ssl.SSLContext,
    fast: dict[str, Any],
    scheme: str,
) -> None:
    service = server if scheme == "http" else tls_server
    token = service.add_member(CONVERSATION, "usr_alice")
    async with ForwardProxy() as proxy:
        stream = open_message_stream(
            CONVERSATION, token=token, proxy=proxy.url, **options(service, client_tls, fast)
        )
        async with stream:
            await service.wait_for_streams(1, CONVERSATION)
            before = await service.publish(CONVERSATION, "usr_bob", "one")
            assert await first(stream, 1) == [before]
            await service.drop_streams(CONVERSATION)
            after = await service.publish(CONVERSATION, "usr_bob", "two")  # stored, replayed
            assert await first(stream, 1) == [after]
    assert stream.reconnects == 1
    streams = [r for r in service.requests if r.path.endswith("/stream")]
    assert len(streams) == 2
    assert "last-event-id" not in streams[0].headers
    assert streams[1].headers["last-event-id"] == before.id
    if scheme == "http":
        assert proxy.seen[1].headers["last-event-id"] == before.id
    else:
        assert proxy.tunnels == 2


async def test_open_event_stream_takes_a_proxy(server: ConciergeServer) -> None:
    token = server.add_member(CONVERSATION, "usr_alice")
    url = f"{server.base_url}/v1/conversations/{CONVERSATION}/stream"
    async with (
        ForwardProxy() as proxy,
        open_event_stream(url, token=token, proxy=proxy.url) as stream,
    ):
        await server.wait_for_streams(1, CONVERSATION)
        sent = await server.publish(CONVERSATION, "usr_bob", "hi")
        events = await first(stream, 1)
    assert [(e.event, e.id) for e in events] == [("message", sent.id)]
    assert [seen.method for seen in proxy.seen] == ["GET"]


async def test_a_redirect_to_a_host_in_no_proxy_leaves_the_proxy(
    server: ConciergeServer,
) -> None:
    # One transport, two routes: the first URL through the proxy, the
    # redirect's target (another host name, in NO_PROXY) direct.
    token = server.add_member(CONVERSATION, "usr_alice")
    path = f"/v1/conversations/{CONVERSATION}/stream"
    server.faults.redirect(f"http://localhost:{server.port}{path}", status=307)
    async with ForwardProxy() as proxy:
        settings = settings_from_environment({"http_proxy": proxy.url, "no_proxy": "localhost"})
        transport = Transport(user_agent="tests", proxy=settings)
        try:
            with anyio.fail_after(10):
                credentials = {"Authorization": f"Bearer {token}"}
                response = await transport.open(
                    "GET", server.base_url + path, {}, origin_only=credentials, read_timeout=5
                )
                await response.aclose()
        finally:
            await transport.aclose()
    # (The credentials stayed behind at the change of origin: hence the 401.)
    assert (response.status, response.url) == (401, f"http://localhost:{server.port}{path}")
    assert [seen.target for seen in proxy.seen] == [server.base_url + path]
    assert [r.path for r in server.requests] == [path, path]


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_an_https_proxy_is_reached_over_tls(
    server: ConciergeServer,
    tls_server: ConciergeServer,
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
    fast: dict[str, Any],
    scheme: str,
) -> None:
    service = server if scheme == "http" else tls_server
    token = service.add_member(CONVERSATION, "usr_alice")
    async with ForwardProxy(tls=server_tls, credentials=("dave", "pw")) as proxy:
        assert proxy.url.startswith("https://")
        url = proxy.url_with("dave", "pw")
        kwargs = options(service, client_tls, fast)
        async with open_message_stream(CONVERSATION, token=token, proxy=url, **kwargs) as stream:
            await service.wait_for_streams(1, CONVERSATION)
            sent = await service.publish(CONVERSATION, "usr_bob", "over two TLS layers")
            got = await first(stream, 1)
    assert got == [sent]
    assert [seen.method for seen in proxy.seen] == ["GET" if scheme == "http" else "CONNECT"]
    assert proxy.refused == 0


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_leaving_the_block_closes_the_connections_through_the_proxy(
    server: ConciergeServer,
    tls_server: ConciergeServer,
    client_tls: ssl.SSLContext,
    scheme: str,
) -> None:
    service = server if scheme == "http" else tls_server
    token = service.add_member(CONVERSATION, "usr_alice")
    async with ForwardProxy() as proxy:
        kwargs = {"base_url": service.base_url, "ssl_context": client_tls, "proxy": proxy.url}
        async with Client(token=token, **kwargs) as client:
            await client.list_messages(CONVERSATION)  # a pooled, idle connection
            async with client.open_message_stream(CONVERSATION) as stream:
                await service.wait_for_streams(1, CONVERSATION)
                sent = await service.publish(CONVERSATION, "usr_bob", "hi")
                assert await first(stream, 1) == [sent]
            with anyio.fail_after(10):
                await service.wait_for_stream_count(0, CONVERSATION)
        with anyio.fail_after(10):
            await proxy.wait_closed()
    assert len(proxy.seen) == (2 if scheme == "http" else 1)  # a tunnel is kept and reused
