"""Fixtures for the sync-client tests: a concierge in a thread, both backends for async hosts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sync_support import CONVERSATION, Baseline

from expys_stream.testing import ConciergeThread


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server() -> Iterator[ConciergeThread]:
    # retry_ms=1: the server's retry floor must not slow the tests down.
    with ConciergeThread(retry_ms=1) as concierge:
        concierge.add_conversation(CONVERSATION)
        yield concierge


@pytest.fixture
def token(server: ConciergeThread) -> str:
    return server.add_member(CONVERSATION, "usr_alice")


@pytest.fixture
def fast(server: ConciergeThread) -> dict[str, Any]:
    """Client options for tests: the server's URL and short backoff."""
    return {"base_url": server.base_url, "backoff_base": 0.01, "backoff_cap": 0.05}


@pytest.fixture
def baseline(server: ConciergeThread) -> Iterator[Baseline]:
    """Checks, after the test, that no thread or descriptor of ours is left."""
    before = Baseline(server.port)
    yield before
    before.check()
