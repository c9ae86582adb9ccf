"""The proxy environment variables, end to end: honoured, bypassed, or ignored."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from proxy_servers import CONVERSATION, ForwardProxy

from expys_stream import Client
from expys_stream.testing import ConciergeServer

pytestmark = pytest.mark.anyio


async def list_through(server: ConciergeServer, **kwargs: Any) -> None:
    token = server.add_member(CONVERSATION, "usr_alice")
    async with Client(token=token, base_url=server.base_url, **kwargs) as client:
        with anyio.fail_after(10):
            await client.list_messages(CONVERSATION)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
async def test_the_environment_proxy_is_used_by_default(
    server: ConciergeServer, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    async with ForwardProxy() as proxy:
        monkeypatch.setenv(variable, proxy.url)
        await list_through(server)
    assert [seen.method for seen in proxy.seen] == ["GET"]
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1", "127.0.0.0/8", "*", "example.com, 127.0.0.1", "127.0.0.1:{port}"]
)
async def test_no_proxy_bypasses_the_proxy(
    server: ConciergeServer, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", no_proxy.format(port=server.port))
        await list_through(server)
    assert proxy.seen == []
    assert len(server.requests) == 1


async def test_a_no_proxy_entry_for_another_port_does_not_bypass(
    server: ConciergeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.setenv("no_proxy", f"127.0.0.1:{server.port + 1 if server.port < 65535 else 1}")
        await list_through(server)
    assert len(proxy.seen) == 1


async def test_trust_env_false_ignores_the_environment(
    server: ConciergeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        await list_through(server, trust_env=False)
    assert proxy.seen == []
    assert len(server.requests) == 1


async def test_an_explicit_proxy_overrides_the_environment_no_proxy_included(
    server: ConciergeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ForwardProxy() as chosen, ForwardProxy() as from_env:
        monkeypatch.setenv("HTTP_PROXY", from_env.url)
        monkeypatch.setenv("NO_PROXY", "*")
        await list_through(server, proxy=chosen.url)
    assert len(chosen.seen) == 1
    assert from_env.seen == []


async def test_lower_case_wins_and_https_proxy_does_not_serve_http(
    server: ConciergeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ForwardProxy() as lower, ForwardProxy() as upper, ForwardProxy() as https:
        monkeypatch.setenv("http_proxy", lower.url)
        monkeypatch.setenv("HTTP_PROXY", upper.url)
        monkeypatch.setenv("HTTPS_PROXY", https.url)
        await list_through(server)
    assert (len(lower.seen), len(upper.seen), len(https.seen)) == (1, 0, 0)


async def test_upper_case_http_proxy_is_ignored_under_cgi(
    server: ConciergeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpoxy: under CGI, HTTP_PROXY holds the request's "Proxy" header.
    async with ForwardProxy() as planted:
        monkeypatch.setenv("REQUEST_METHOD", "GET")
        monkeypatch.setenv("HTTP_PROXY", planted.url)
        await list_through(server)
    assert planted.seen == []
    assert len(server.requests) == 1


async def test_a_pool_given_by_the_caller_is_used_as_it_is(
    server: ConciergeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpcore

    async with ForwardProxy() as proxy, httpcore.AsyncConnectionPool() as pool:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        await list_through(server, pool=pool)
    assert proxy.seen == []
    assert len(server.requests) == 1
