"""Fixtures for the client tests: a real concierge on 127.0.0.1, both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from client_support import CONVERSATION

from expys_stream.testing import ConciergeServer, serve_concierge


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def server() -> AsyncIterator[ConciergeServer]:
    # retry_ms=1: the server's retry floor must not slow the tests down.
    async with serve_concierge(retry_ms=1) as concierge:
        concierge.add_conversation(CONVERSATION)
        yield concierge


@pytest.fixture
def token(server: ConciergeServer) -> str:
    return server.add_member(CONVERSATION, "usr_alice")


@pytest.fixture
def fast(server: ConciergeServer) -> dict[str, Any]:
    """Client options for tests: the server's URL and short backoff."""
    return {"base_url": server.base_url, "backoff_base": 0.01, "backoff_cap": 0.05}
