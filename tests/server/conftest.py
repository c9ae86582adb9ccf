"""Fixtures for the concierge server's tests: every async test on asyncio and trio.

``server`` is a running concierge (in the test's own event loop) with the
conversation ``cnv_demo``, where ``usr_alice`` (token: ``alice``) is a
member; ``api`` talks to it over 127.0.0.1 through an httpcore pool.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpcore
import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from concierge_client import Api  # noqa: E402

from expys_stream.testing import ConciergeServer, serve_concierge  # noqa: E402

DEMO = "cnv_demo"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def server() -> AsyncIterator[ConciergeServer]:
    async with serve_concierge() as running:
        running.add_conversation(DEMO)
        yield running


@pytest.fixture
def alice(server: ConciergeServer) -> str:
    return server.add_member(DEMO, "usr_alice")


@pytest.fixture
async def pool() -> AsyncIterator[httpcore.AsyncConnectionPool]:
    async with httpcore.AsyncConnectionPool(max_connections=200) as connections:
        yield connections


@pytest.fixture
def api(pool: httpcore.AsyncConnectionPool, server: ConciergeServer) -> Api:
    return Api(pool, server.base_url)
