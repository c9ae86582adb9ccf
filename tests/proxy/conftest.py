"""Fixtures for the proxy tests: a concierge (plain or TLS), proxies, both backends."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trustme
from proxy_servers import CONVERSATION

from expys_stream.testing import ConciergeServer, serve_concierge

PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "REQUEST_METHOD",
)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the proxy variables of the machine that runs it."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def client_tls(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


@pytest.fixture
def server_tls(authority: trustme.CA) -> ssl.SSLContext:
    """A server-side context with a certificate for 127.0.0.1 and localhost."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
async def server() -> AsyncIterator[ConciergeServer]:
    async with serve_concierge(retry_ms=1) as concierge:
        concierge.add_conversation(CONVERSATION)
        yield concierge


@pytest.fixture
async def tls_server(server_tls: ssl.SSLContext) -> AsyncIterator[ConciergeServer]:
    async with serve_concierge(retry_ms=1, ssl_context=server_tls) as concierge:
        concierge.add_conversation(CONVERSATION)
        yield concierge


@pytest.fixture
def fast() -> dict[str, Any]:
    """Short backoff, so that reconnects in tests are quick."""
    return {"backoff_base": 0.01, "backoff_cap": 0.05}
