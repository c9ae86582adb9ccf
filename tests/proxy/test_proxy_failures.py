"""What a proxy's refusal or absence does: typed errors, no loops, no leaked credentials."""

from __future__ import annotations

import base64
import logging
import ssl
from typing import Any

import anyio
import pytest
from proxy_servers import CONVERSATION, ForwardProxy

from expys_stream import (
    Client,
    ConnectError,
    ProxyError,
    RetryLimitExceeded,
    open_message_stream,
)
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio

PASSWORD = "s3cret-Pa55"


async def closed_port() -> int:
    """A loopback port that nothing listens on (it was just freed)."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
    await listener.aclose()
    return port


def service_for(
    scheme: str, server: ConciergeServer, tls_server: ConciergeServer
) -> ConciergeServer:
    return server if scheme == "http" else tls_server


def assert_no_secret(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    for text in (str(error), repr(error), caplog.text):
        assert PASSWORD not in text
        assert basic not in text
    cause = error.__cause__
    while cause is not None:
        assert PASSWORD not in str(cause)
        cause = cause.__cause__


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_407_is_a_final_proxy_error_for_requests_and_streams(
    server: ConciergeServer,
    tls_server: ConciergeServer,
    client_tls: ssl.SSLContext,
    fast: dict[str, Any],
    scheme: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    service = service_for(scheme, server, tls_server)
    token = service.add_member(CONVERSATION, "usr_alice")
    async with ForwardProxy(credentials=("alice", "right")) as proxy:
        kwargs = {"base_url": service.base_url, "ssl_context": client_tls, **fast}
        wrong = proxy.url_with("alice", PASSWORD)
        async with Client(token=token, proxy=wrong, request_retries=3, **kwargs) as client:
            with anyio.fail_after(10), pytest.raises(ProxyError) as raised:
                await client.list_messages(CONVERSATION)
        with anyio.fail_after(10), pytest.raises(ProxyError) as streamed:
            async with open_message_stream(CONVERSATION, token=token, proxy=wrong, **kwargs) as s:
                async for _message in s:
                    pass
    for error in (raised.value, streamed.value):
        assert error.status == 407
        assert error.proxy == proxy.url
        assert "407" in str(error)
        assert_no_secret(error, caplog)
    # One attempt each: a 407 does not heal by retrying.
    assert proxy.refused == len(proxy.seen) == 2
    assert service.requests == []


async def test_a_proxy_without_credentials_gets_407_too(server: ConciergeServer) -> None:
    token = server.add_member(CONVERSATION, "usr_alice")
    async with (
        ForwardProxy(credentials=("alice", "right")) as proxy,
        Client(token=token, base_url=server.base_url, proxy=proxy.url) as client,
    ):
        with anyio.fail_after(10), pytest.raises(ProxyError) as raised:
            await client.send_message(CONVERSATION, "hello")
    assert raised.value.status == 407
    assert "proxy-authorization" not in proxy.seen[0].headers


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_proxy_credentials_reach_the_proxy_only(
    server: ConciergeServer,
    tls_server: ConciergeServer,
    client_tls: ssl.SSLContext,
    scheme: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    service = service_for(scheme, server, tls_server)
    token = service.add_member(CONVERSATION, "usr_alice")
    user = "bob@corp"  # "@" and ":" in credentials are percent-encoded in the URL
    password = PASSWORD + ":x"
    async with ForwardProxy(credentials=(user, password)) as proxy:
        kwargs = {"base_url": service.base_url, "ssl_context": client_tls}
        proxy_url = proxy.url_with(user, password)
        async with Client(token=token, proxy=proxy_url, **kwargs) as client:
            await client.send_message(CONVERSATION, "hi")
            assert PASSWORD not in repr(client)
            async with client.open_message_stream(CONVERSATION, history=1) as stream:
                with anyio.fail_after(10):
                    got = await stream.__anext__()
    assert got.body == "hi"
    assert proxy.refused == 0
    assert all(seen.headers["proxy-authorization"].startswith("Basic ") for seen in proxy.seen)
    assert service.requests
    for request in service.requests:
        assert "proxy-authorization" not in request.headers
        assert PASSWORD not in repr(request.headers)
    basic = proxy.seen[0].headers["proxy-authorization"].removeprefix("Basic ")
    assert base64.b64decode(basic).decode() == f"{user}:{password}"
    assert PASSWORD not in caplog.text
    assert basic not in caplog.text


async def test_a_proxy_that_is_down_is_a_retried_connect_error(
    server: ConciergeServer, fast: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = server.add_member(CONVERSATION, "usr_alice")
    port = await closed_port()
    proxy = f"http://alice:{PASSWORD}@127.0.0.1:{port}"
    kwargs = {"base_url": server.base_url, "proxy": proxy, **fast}
    async with Client(token=token, request_retries=1, **kwargs) as client:
        with anyio.fail_after(10), pytest.raises(RetryLimitExceeded) as raised:
            await client.list_messages(CONVERSATION)
    with anyio.fail_after(10), pytest.raises(RetryLimitExceeded) as streamed:
        async with open_message_stream(CONVERSATION, token=token, max_retries=2, **kwargs) as s:
            async for _message in s:
                pass
    assert raised.value.attempts == 2
    assert streamed.value.attempts == 3
    for error in (raised.value, streamed.value):
        assert isinstance(error.last_error, ConnectError)
        assert f"through proxy http://127.0.0.1:{port}" in str(error.last_error)
        assert_no_secret(error, caplog)
    assert server.requests == []


async def test_connect_refused_by_policy_is_final_and_a_bad_gateway_is_retried(
    tls_server: ConciergeServer, client_tls: ssl.SSLContext, fast: dict[str, Any]
) -> None:
    token = tls_server.add_member(CONVERSATION, "usr_alice")
    kwargs = {"base_url": tls_server.base_url, "ssl_context": client_tls, **fast}
    async with (
        ForwardProxy(connect_status=403) as forbidding,
        Client(token=token, proxy=forbidding.url, request_retries=3, **kwargs) as c,
    ):
        with anyio.fail_after(10), pytest.raises(ProxyError) as refused:
            await c.list_messages(CONVERSATION)
    assert refused.value.status == 403
    assert len(forbidding.seen) == 1
    async with (
        ForwardProxy(connect_status=502) as failing,
        Client(token=token, proxy=failing.url, request_retries=1, **kwargs) as c,
    ):
        with anyio.fail_after(10), pytest.raises(RetryLimitExceeded) as retried:
            await c.list_messages(CONVERSATION)
    assert isinstance(retried.value.last_error, ConnectError)
    assert "502" in str(retried.value.last_error)
    assert len(failing.seen) == 2
    assert tls_server.requests == []
