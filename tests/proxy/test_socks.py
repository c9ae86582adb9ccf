"""SOCKS5 proxies (the ``socks`` extra): streams and requests through a real one."""

from __future__ import annotations

import logging
import ssl
import sys
from typing import Any

import anyio
import pytest
from proxy_servers import CONVERSATION, Socks5Proxy

from expys_stream import Client, ProxyError, open_message_stream
from expys_stream._http._proxy import ProxySettings, parse_proxy_url
from expys_stream._transport import StreamBody, Transport
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio

PASSWORD = "socks-Pa55"  # a test credential


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
@pytest.mark.parametrize("service_scheme", ["http", "https"])
async def test_requests_and_streams_through_a_socks5_proxy(
    server: ConciergeServer,
    tls_server: ConciergeServer,
    client_tls: ssl.SSLContext,
    fast: dict[str, Any],
    scheme: str,
    service_scheme: str,
) -> None:
    service = server if service_scheme == "http" else tls_server
    token = service.add_member(CONVERSATION, "usr_alice")
    async with Socks5Proxy(credentials=("carol", PASSWORD)) as proxy:
        url = proxy.url_with("carol", PASSWORD).replace("socks5://", f"{scheme}://")
        kwargs = {"base_url": service.base_url, "ssl_context": client_tls, **fast}
        async with Client(token=token, proxy=url, **kwargs) as client:
            sent = await client.send_message(CONVERSATION, "over socks")
        async with open_message_stream(CONVERSATION, token=token, proxy=url, **kwargs) as stream:
            await service.wait_for_streams(1, CONVERSATION)
            before = await service.publish(CONVERSATION, "usr_bob", "before")
            with anyio.fail_after(10):
                got = [await stream.__anext__()]
            await service.drop_streams(CONVERSATION)  # a reconnect through the proxy
            later = await service.publish(CONVERSATION, "usr_bob", "after")
            with anyio.fail_after(10):
                got.append(await stream.__anext__())
    assert got == [before, later]
    assert sent.body == "over socks"
    assert {seen.target for seen in proxy.seen} == {f"127.0.0.1:{service.port}"}
    assert len(proxy.seen) >= 3  # the send, then two stream connections
    streams = [r for r in service.requests if r.path.endswith("/stream")]
    assert streams[1].headers.get("last-event-id") == before.id


async def test_socks5_credentials_refused_are_a_final_proxy_error(
    server: ConciergeServer, fast: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = server.add_member(CONVERSATION, "usr_alice")
    async with Socks5Proxy(credentials=("carol", "right")) as proxy:
        kwargs = {"base_url": server.base_url, "proxy": proxy.url_with("carol", PASSWORD), **fast}
        async with Client(token=token, request_retries=3, **kwargs) as client:
            with anyio.fail_after(10), pytest.raises(ProxyError) as raised:
                await client.list_messages(CONVERSATION)
        with anyio.fail_after(10), pytest.raises(ProxyError) as streamed:
            async with open_message_stream(CONVERSATION, token=token, **kwargs) as stream:
                async for _message in stream:
                    pass
    for error in (raised.value, streamed.value):
        assert error.status is None
        assert error.proxy == proxy.url
        for text in (str(error), repr(error), caplog.text):
            assert PASSWORD not in text
    assert proxy.refused == 2
    assert server.requests == []


async def test_the_bulk_body_path_is_taken_through_socks5(server: ConciergeServer) -> None:
    token = server.add_member(CONVERSATION, "usr_alice")
    async with Socks5Proxy() as proxy:
        via = parse_proxy_url(proxy.url)
        transport = Transport(user_agent="tests", proxy=ProxySettings(http=via, https=via))
        url = f"{server.base_url}/v1/conversations/{CONVERSATION}/stream"
        try:
            with anyio.fail_after(10):
                headers = {"Authorization": f"Bearer {token}"}
                response = await transport.open("GET", url, headers, read_timeout=10)
                with anyio.CancelScope() as scope:
                    body = StreamBody(response, 10.0, scope)
                    assert body.bulk
                    payload = await body.read()
                await response.aclose()
        finally:
            await transport.aclose()
    assert payload.startswith(b"retry:")
    assert len(proxy.seen) == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # no I/O: one backend is enough
async def test_without_socksio_a_socks_proxy_is_a_clear_value_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "socksio", None)  # what "not installed" looks like
    with pytest.raises(ValueError, match=r"expys-stream\[socks\]") as explicit:
        Client(token="t", base_url="http://127.0.0.1:1", proxy=f"socks5://u:{PASSWORD}@proxy:1080")
    assert PASSWORD not in str(explicit.value)
    monkeypatch.setenv("ALL_PROXY", "socks5h://proxy")
    with pytest.raises(ValueError, match="environment") as from_env:
        Client(token="t", base_url="http://127.0.0.1:1")
    assert "socks5h://proxy:1080" in str(from_env.value)
    # Ignoring the environment ignores its SOCKS proxy too.
    Client(token="t", base_url="http://127.0.0.1:1", trust_env=False)
